#!/usr/bin/env python3
"""A real SMTP server for ChatSync's tests: accepts every message and saves it, raw, as one
file per message in --dir. With --fail-first N it answers the first N messages with a
temporary failure (451), to exercise retries. Prints "ready" once it accepts connections.

Needs aiosmtpd (scripts/test-deps.sh installs it).
"""
import argparse
import os
import time
import uuid

from aiosmtpd.controller import Controller


class Saver:
    def __init__(self, directory, fail_first):
        self.directory = directory
        self.fail_left = fail_first

    async def handle_DATA(self, server, session, envelope):
        if self.fail_left > 0:
            self.fail_left -= 1
            return "451 4.3.0 try again later (test sink)"
        name = f"{time.time_ns()}-{uuid.uuid4().hex}.eml"
        tmp = os.path.join(self.directory, name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(self.directory, name))
        return "250 OK"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--fail-first", type=int, default=0)
    args = p.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    controller = Controller(Saver(args.dir, args.fail_first), hostname="127.0.0.1", port=args.port)
    controller.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
