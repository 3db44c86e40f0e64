# SPDX-License-Identifier: Apache-2.0
"""The lab's rendered files: the agent's YAML on the lab's addresses, and
HAProxy's map files of region keys and gateway keys. Standard library
only (no YAML library: the shipped file stays the one source, and only
its addresses change).
"""
import os

# The addresses the shipped lab YAML (haproxy-conf/lab/aoai-spoa.yaml)
# listens on, by role; a lab puts its own in their place.
SHIPPED = {
    "agent": "127.0.0.1:12345",
    "metrics": "127.0.0.1:9101",
    "control_tcp": "127.0.0.1:9102",
    "dir": "/tmp/aoai-lab/",
}


def agent_yaml(text, addresses):
    """<text> (the shipped YAML, or one derived from it) with each role's
    shipped address replaced by addresses[role]; roles not given keep
    theirs."""
    for role, shipped in SHIPPED.items():
        if role in addresses:
            text = text.replace(shipped, addresses[role])
    return text


def write_private(path, lines):
    """Writes <lines> ("key value" pairs) to <path>, mode 0600: the maps
    hold keys."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.writelines("%s %s\n" % kv for kv in lines)
    os.chmod(path, 0o600)
