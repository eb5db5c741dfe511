#!/usr/bin/env python3
"""Stage benchmark, Python side: the decoding and writing of bench/python_processor.py
without the pipe, for the same-run ratio in bench/stage.py.

Reads a workload file (`kcl-bench-driver --dump`) into memory, then parses each
processRecords line as amazon_kclpy's KCLProcess does (json with its message hook), decodes every
record (Record.binary_data) and logs its text through `logging` to a RotatingFileHandler
(10 MB x 5) with python_processor.py's format, flushing at the end of every batch.

Usage: python_stage.py WORKLOAD.jsonl LOG_FILE
Prints one JSON line: records, decoded bytes, user and system CPU of the timed part.
"""

import json
import logging
import logging.handlers
import resource
import sys

from amazon_kclpy import dispatch


def main():
    workload, log_file = sys.argv[1], sys.argv[2]
    with open(workload, encoding="utf-8") as f:
        lines = [line for line in f if line.startswith('{"action":"processRecords"')]
    log = logging.getLogger("record_processor")
    handler = logging.handlers.RotatingFileHandler(
        log_file, maxBytes=10 * 1024 * 1024, backupCount=5, encoding="utf-8")
    handler.setFormatter(logging.Formatter(
        "%(asctime)s.%(msecs)03d [%(module)s] %(levelname)-5s %(funcName)s - %(message)s",
        datefmt="%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    records = data_bytes = 0
    before = resource.getrusage(resource.RUSAGE_SELF)
    for line in lines:
        # As amazon_kclpy's KCLProcess reads a line: records become messages.Record.
        batch = json.loads(line, object_hook=dispatch.message_decode)
        for record in batch.records:
            data = record.binary_data
            log.info(data.decode("utf-8", "backslashreplace"))
            records += 1
            data_bytes += len(data)
        handler.flush()
    after = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "records": records,
        "data_bytes": data_bytes,
        "user_us": (after.ru_utime - before.ru_utime) * 1e6,
        "sys_us": (after.ru_stime - before.ru_stime) * 1e6,
    }))


if __name__ == "__main__":
    main()
