#!/usr/bin/env python3
"""Prints, as one JSON object, every verification code in the mails scripts/smtp_sink.py saved
in DIR: {"address": [{"code": "123456", "at_ms": 1764820000000}, ...], ...}, oldest first.
at_ms is when the sink received the mail (from the file name the sink gives it)."""
import email
import email.policy
import json
import os
import re
import sys

d = sys.argv[1]
out = {}
for name in sorted(os.listdir(d)):
    if not name.endswith(".eml"):
        continue
    with open(os.path.join(d, name), "rb") as f:
        msg = email.message_from_binary_file(f, policy=email.policy.default)
    part = msg.get_body(preferencelist=("plain", "html"))
    m = re.search(r"\b(\d{6})\b", part.get_content() if part else "")
    if not m:
        continue
    at_ms = int(name.split("-", 1)[0]) // 1_000_000
    for addr in msg.get_all("To", []):
        for a in re.findall(r"[^\s<>,\"]+@[^\s<>,\"]+", str(addr)):
            out.setdefault(a.lower(), []).append({"code": m.group(1), "at_ms": at_ms})
print(json.dumps(out))
