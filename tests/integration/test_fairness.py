#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Frames handled per wake-up are bounded (agent.max_inflight): a
connection that pipelines hundreds of NOTIFYs is served in slices, a full
read buffer of whole frames is drained, and other connections are served
in between.
"""
import signal

import harness as h
import spop


def main():
    t = h.Tap()
    with h.Procs() as procs:
        port = h.free_port()
        yaml = h.agent_yaml(port).replace(
            "agent:\n", "agent:\n  max_inflight: 2\n")
        p, _ = h.start_agent(procs, yaml, port=port)
        busy = h.SpopClient(port)
        other = h.SpopClient(port)
        t.ok(busy.hello()["type_name"] == "AGENT-HELLO", "HELLO (busy)")
        t.ok(other.hello()["type_name"] == "AGENT-HELLO", "HELLO (other)")
        # 300 NOTIFYs of ~80 bytes in one write: more than the 16 KiB
        # read buffer holds, all complete frames
        pad = [("padding", "STRING", "x" * 40)]
        frames = b"".join(h.notify(1, i + 1,
                                   [h.route_msg(extra=pad)])
                          for i in range(300))
        t.ok(len(frames) > 16384, "burst larger than the read buffer (%d)"
             % len(frames))
        busy.send(frames)
        f, a = other.route(7, 7)
        t.ok(f is not None and f["frame_id"] == 7 and b"backend" in a,
             "the other connection is answered during the burst")
        ids = set()
        for _ in range(300):
            f = busy.recv(10)
            if f is None:
                break
            ids.add(f["frame_id"])
        t.eq(ids, set(range(1, 301)), "all 300 pipelined NOTIFYs ACKed")
        t.eq(procs.stop(p, signal.SIGTERM), 0, "agent exits 0")
        log = h.read_log(p)
        t.ok("AddressSanitizer" not in log and "runtime error" not in log,
             "no sanitizer report")
    t.done()


if __name__ == "__main__":
    main()
