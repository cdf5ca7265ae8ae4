"""Run a batch of prompts into a folder, resuming what the folder's manifest has done.

Used by tests/test_batch_resume.py, which kills this process half-way and runs it again::

    python tests/_batch_worker.py BASE_URL API_KEY OUT_DIR COUNT
"""

from __future__ import annotations

import sys

import nanobanana as nb


def main(argv: list[str]) -> int:
    base_url, api_key, out_dir, count = argv[1], argv[2], argv[3], int(argv[4])
    prompts = [f"worker prompt {i}" for i in range(count)]
    with nb.Client(api_key=api_key, base_url=base_url) as client:
        summary = client.batch(prompts, concurrency=4, out_dir=out_dir, resume=True).run()
    print(f"ok={summary.ok} failed={summary.failed} skipped={summary.skipped}")
    return 0 if summary.ok + summary.skipped_by_reason.get("done", 0) == count else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
