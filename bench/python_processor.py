#!/usr/bin/env python3
"""Benchmark baseline: an amazon_kclpy (v3 API) record processor doing the same
work as record_processor.

* every record's data is logged as text at INFO through `logging` to a
  size-rotated file (RotatingFileHandler, 10 MB x 5 backups by default, the same
  defaults as record_processor), line format close to the Fargate sample's
  `HH:MM:SS.mmm [module] LEVEL  function - message`;
* checkpoint logic of the Kinesis-on-Fargate / kclpy sample: checkpoint at the
  largest (sequence, sub-sequence) seen once the interval (60 s) has passed
  (so also after the first batch), retry on ThrottlingException (5 tries),
  stop on ShutdownException, checkpoint at shard end and when shutdown is
  requested.

Usage: python_processor.py [--log-file PATH] [--checkpoint-interval S]
                           [--log-max-bytes N] [--log-backups N]
"""

import argparse
import logging
import logging.handlers
import sys
import time

from amazon_kclpy import kcl
from amazon_kclpy.v3 import processor

log = logging.getLogger("record_processor")


class RecordProcessor(processor.RecordProcessorBase):
    def __init__(self, checkpoint_interval, retries=5, backoff_s=1.0):
        self._checkpoint_interval = checkpoint_interval
        self._retries = retries
        self._backoff_s = backoff_s
        self._largest_seq = (None, None)
        self._last_checkpoint_time = 0.0

    def initialize(self, initialize_input):
        self._largest_seq = (None, None)
        self._last_checkpoint_time = 0.0
        log.info("initialize shard %s at %s/%s", initialize_input.shard_id,
                 initialize_input.sequence_number, initialize_input.sub_sequence_number)

    def checkpoint(self, checkpointer, sequence_number=None, sub_sequence_number=None):
        for attempt in range(self._retries):
            try:
                checkpointer.checkpoint(sequence_number, sub_sequence_number)
                return
            except kcl.CheckpointError as e:
                if e.value == "ShutdownException":
                    log.info("shutdown exception while checkpointing, skipping checkpoint")
                    return
                if e.value == "ThrottlingException":
                    if attempt == self._retries - 1:
                        log.error("failed to checkpoint after %d attempts, giving up", attempt + 1)
                        return
                    log.info("throttled while checkpointing, retrying in %s s", self._backoff_s)
                elif e.value == "InvalidStateException":
                    log.error("MultiLangDaemon reported an invalid state while checkpointing")
                else:
                    log.error("error while checkpointing: %s", e)
            time.sleep(self._backoff_s)

    def process_records(self, process_records_input):
        try:
            largest = self._largest_seq
            for record in process_records_input.records:
                data = record.binary_data
                log.info(data.decode("utf-8", "backslashreplace"))
                seq = int(record.sequence_number)
                sub = record.sub_sequence_number
                if largest[0] is None or seq > largest[0] or (seq == largest[0] and sub > largest[1]):
                    largest = (seq, sub)
            self._largest_seq = largest
            if time.time() - self._last_checkpoint_time > self._checkpoint_interval:
                for h in log.handlers:
                    h.flush()
                self.checkpoint(process_records_input.checkpointer, str(largest[0]), largest[1])
                self._last_checkpoint_time = time.time()
        except Exception as e:  # the sample's behaviour: log and carry on
            log.error("exception while processing records: %s", e)

    def lease_lost(self, lease_lost_input):
        log.info("lease lost")

    def shard_ended(self, shard_ended_input):
        log.info("shard ended, checkpointing")
        self.checkpoint(shard_ended_input.checkpointer)

    def shutdown_requested(self, shutdown_requested_input):
        log.info("shutdown requested, checkpointing")
        self.checkpoint(shutdown_requested_input.checkpointer)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log-file", default="logs/record_processor.log")
    ap.add_argument("--checkpoint-interval", type=float, default=60.0)
    ap.add_argument("--log-max-bytes", type=int, default=10 * 1024 * 1024)
    ap.add_argument("--log-backups", type=int, default=5)
    args = ap.parse_args()
    handler = logging.handlers.RotatingFileHandler(
        args.log_file, maxBytes=args.log_max_bytes, backupCount=args.log_backups, encoding="utf-8")
    handler.setFormatter(logging.Formatter(
        "%(asctime)s.%(msecs)03d [%(module)s] %(levelname)-5s %(funcName)s - %(message)s", datefmt="%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    kcl.KCLProcess(RecordProcessor(args.checkpoint_interval)).run()


if __name__ == "__main__":
    sys.exit(main())
