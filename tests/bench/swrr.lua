-- SPDX-License-Identifier: Apache-2.0
-- make bench-haproxy, configuration 2: what an HAProxy user would write
-- instead of an agent. Smooth weighted round-robin (nginx's algorithm) in
-- a Lua action; the backend then routes with use-server on txn.swrr.
-- Weights mirror the agent's pool in the benchmark (2, 1, 1).

local servers = {
	{ name = "eastus", weight = 2, current = 0 },
	{ name = "swedencentral", weight = 1, current = 0 },
	{ name = "westus-payg", weight = 1, current = 0 },
}
local total = 0
for _, s in ipairs(servers) do
	total = total + s.weight
end

core.register_action("swrr", { "http-req" }, function(txn)
	local best = nil
	for _, s in ipairs(servers) do
		s.current = s.current + s.weight
		if best == nil or s.current > best.current then
			best = s
		end
	end
	best.current = best.current - total
	txn:set_var("txn.swrr", best.name)
end, 0)
