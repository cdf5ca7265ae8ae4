"""The ``nanobanana`` command line's arguments: one ``argparse`` parser, one subparser
per command.

This module imports nothing but the standard library (and the package's version
string): ``nanobanana --help`` must print at once, without loading the SDK, aiohttp
or rich.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import NoReturn

from nanobanana._version import __version__

from ._exit import EXIT_USAGE, PROG

__all__ = ["build_parser"]

_RESOLUTIONS = ("1K", "2K", "4K")  # also in nanobanana._catalog; not imported, for speed

_BATCH_EPILOG = """\
input formats (chosen by the suffix, or --format):
  .txt    one prompt per line; blank lines and lines starting with # are skipped
          (start a prompt with \\# to begin it with #)
  .jsonl  one JSON object per line: "prompt" plus any of "model", "num_images",
          "aspect_ratio", "resolution", "images" (a path or URL, or a list of them)
          and "extra_body" (an object), and the labels "id" and "tag" (recorded in
          the manifest, not sent); blank and # lines are skipped
  .csv    a header row with a "prompt" column and any of the option columns above;
          "images" holds paths/URLs separated by |, "extra_body" a JSON object;
          an empty cell leaves the option unset
  -       stdin: jsonl when its first line starts with {, else txt
  --template TEXT with --var NAME=VALUES (no INPUT): every combination of the
          values; with a .csv or .jsonl INPUT: its columns (keys) fill the
          placeholders, besides the option columns and id, tag
Relative image paths are relative to the current directory. The -m, -n,
--aspect-ratio and --resolution flags set defaults that a line can override.

bad lines (invalid JSON, no prompt, an unknown option or an invalid value) are
reported on stderr as FILE:LINE: reason and the other lines still run (exit
code 1 at the end); with --strict the whole file is refused first (exit 2).

item index: counts the good requests only, from 0, in file order; it names the
image files (000007-a-red-kite.png) and is the "index" of the manifest. A bad
line takes no index; the --json records carry the source "line" as well.

--json output on stdout, one JSON object per line:
  {"type": "item", "index": 0, "line": 3, "status": "ok"|"failed"|"skipped",
   "skip_reason", "prompt", "paths", "request_id", "usage", "attempts",
   "elapsed", "error": null | {"type", "message", "status", "request_id"},
   "model", "id", "tag", "vars"}
  {"type": "invalid", "line": 5, "error": {"type": "InputError", "message"}}
  and last {"type": "summary", "ok", "failed", "skipped", "invalid_lines",
   "images", "credits_used", "usd_spent", "elapsed", "manifest",
   "stop_reason", "interrupted", "exit_code", ...; with --dry-run,
   "estimated_usd" (null: unknown) and "estimate_source"}

--shard K/N: this process sends only its share of the inputs (by request key)
and writes OUT/manifest-KK-of-NN.jsonl; the others are skipped as other_shard.
--resume reads the manifests of every shard in OUT. See nanobanana status.

exit codes: 0 all ok; 1 some items failed or invalid; 2 usage error; 130 Ctrl-C; 143 SIGTERM.
"""


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line, not the usage block."""

    def error(self, message: str) -> NoReturn:
        hint = ""
        if message.startswith("unrecognized arguments:") and any(
            not word.startswith("-") for word in message.split(":", 1)[1].split()
        ):
            hint = f'; quote a prompt of several words, as in {PROG} generate "a red kite"'
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}{hint} (see {self.prog} --help)\n")


def _number(kind: type[int] | type[float], *, zero_ok: bool) -> Callable[[str], float]:
    """An argparse ``type`` for a finite number above zero (or at least zero)."""
    noun = "an integer" if kind is int else "a number"
    bound = ">= 0" if zero_ok else ">= 1" if kind is int else "> 0"

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {noun}: {text!r}") from None
        if not (value >= 0 if zero_ok else value > 0) or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    return parse


_positive_int = _number(int, zero_ok=False)
_non_negative_int = _number(int, zero_ok=True)
_positive_float = _number(float, zero_ok=False)
_non_negative_float = _number(float, zero_ok=True)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, built without importing the SDK."""
    parser = _Parser(
        prog=PROG,
        description="Generate and edit images with Google's Nano Banana models on the AI/ML API.",
        epilog="Try it offline: nanobanana demo",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    common = [_common_options()]
    _generate_arguments(
        commands.add_parser(
            "generate",
            parents=common,
            help="generate images from a prompt",
            description="Generate images from a text prompt; print the paths written.",
        )
    )
    _edit_arguments(
        commands.add_parser(
            "edit",
            parents=common,
            help="edit or combine images according to a prompt",
            description="Edit or combine images (paths or URLs) according to a prompt.",
        )
    )
    _batch_arguments(
        commands.add_parser(
            "batch",
            parents=common,
            help="run many prompts from a file, resumably",
            description="Run every request of INPUT concurrently; write the images and "
            "manifest.jsonl into OUT.",
            epilog=_BATCH_EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    )
    _demo_arguments(
        commands.add_parser(
            "demo",
            parents=common,
            help="run a sample batch offline (no key, no network)",
            description="Start the bundled fake API in-process and run a dozen sample "
            "prompts through the batch engine. With --base-url, run them there instead.",
        )
    )
    _status_command(commands)
    _gallery_command(commands)
    _add_json(
        commands.add_parser(
            "models",
            parents=common,
            help="list the known models, their parameters and aliases",
            description="List the models the SDK knows (others can still be named with -m).",
        ),
        "the list",
    )
    _add_inspect(commands)
    return parser


# -- what several commands take -------------------------------------------------------


def _common_options() -> _Parser:
    common = _Parser(add_help=False)
    group = common.add_argument_group("connection and output")
    group.add_argument(
        "--base-url", metavar="URL", help="API base URL (default: $AIML_API_BASE or the AI/ML API)"
    )
    group.add_argument(
        "--api-key", metavar="KEY", help="API key (default: $AIML_API_KEY or $AIMLAPI_API_KEY)"
    )
    group.add_argument(
        "--fake",
        action="store_true",
        help="run against the bundled offline fake API (no key, no network)",
    )
    group.add_argument(
        "--timeout", type=_positive_float, metavar="SECONDS", help="per-request timeout"
    )
    group.add_argument(
        "--max-retries", type=_non_negative_int, metavar="N", help="retries per request"
    )
    group.add_argument(
        "--max-throttled-wait",
        type=_non_negative_float,
        metavar="SECONDS",
        help="most a request waits out rate limits (429s), in total "
        "(default: 120 for one call, 900 per batch item)",
    )
    group.add_argument(
        "-q", "--quiet", action="store_true", help="no progress, no summary; errors only"
    )
    group.add_argument(
        "-v", "--verbose", action="store_true", help="log retries and other details to stderr"
    )
    return common


def _add_request_options(parser: argparse.ArgumentParser, *, defaults: bool = False) -> None:
    suffix = " (default for lines that set none)" if defaults else ""
    parser.add_argument("-m", "--model", metavar="MODEL", help="model id" + suffix)
    parser.add_argument(
        "-n", "--num-images", type=_positive_int, metavar="N", help="images per request" + suffix
    )
    parser.add_argument(
        "--aspect-ratio", metavar="R", help="aspect ratio, e.g. 16:9 or 1:1" + suffix
    )
    parser.add_argument(
        "--resolution", choices=_RESOLUTIONS, help="output resolution, on models that take it"
    )


def _add_json(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--json", action="store_true", help=f"print {what} as JSON on stdout, nothing else"
    )


def _add_no_metadata(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-metadata",
        action="store_true",
        help="write the images exactly as the API sent them, without the generation record",
    )


def _add_no_gallery(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-gallery", action="store_true", help="do not write OUT/index.html at the end"
    )


def _add_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress",
        choices=("auto", "bar", "plain", "off"),
        default="auto",
        help="auto: a live bar when stderr is a terminal, else a line every 2 s",
    )


# -- the arguments of each command ---------------------------------------------------------


def _generate_arguments(gen: argparse.ArgumentParser) -> None:
    gen.add_argument("prompt", metavar="PROMPT")
    _add_request_options(gen)
    gen.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        default=".",
        help="a folder (default: .), or a file name ending in .png/.jpg/.webp",
    )
    _add_no_metadata(gen)
    _add_json(gen, "the result")


def _edit_arguments(edit: argparse.ArgumentParser) -> None:
    edit.add_argument("prompt", metavar="PROMPT")
    edit.add_argument(
        "-i",
        "--image",
        action="append",
        required=True,
        metavar="IMAGE",
        help="an input image path or URL; repeat for several",
    )
    _add_request_options(edit)
    edit.add_argument("-o", "--output", metavar="OUT", default=".", help="as for generate")
    _add_no_metadata(edit)
    _add_json(edit, "the result")


def _batch_arguments(batch: argparse.ArgumentParser) -> None:
    batch.add_argument(
        "input",
        metavar="INPUT",
        nargs="?",
        help="a .txt, .jsonl or .csv file, or - for stdin (none with --template and --var)",
    )
    batch.add_argument(
        "-o", "--output", metavar="OUT", required=True, help="output folder, or s3://bucket/run/"
    )
    batch.add_argument(
        "--format", choices=("txt", "jsonl", "csv"), help="the input format, if not by suffix"
    )
    batch.add_argument(
        "--concurrency", type=_positive_int, default=16, metavar="N", help="default: 16"
    )
    batch.add_argument("--rpm", type=_positive_float, metavar="N", help="requests per minute cap")
    batch.add_argument("--resume", action="store_true", help="skip what OUT/manifest.jsonl has")
    batch.add_argument("--ordered", action="store_true", help="report items in input order")
    batch.add_argument("--fail-fast", action="store_true", help="stop at the first failure")
    _batch_limits(batch)
    _batch_variations(batch)
    batch.add_argument(
        "--dry-run",
        action="store_true",
        help="validate and count, estimate the cost; send nothing",
    )
    batch.add_argument(
        "--price-per-image",
        type=_non_negative_float,
        metavar="USD",
        help="the price a --dry-run estimates with (default: as OUT/manifest.jsonl recorded)",
    )
    batch.add_argument("--strict", action="store_true", help="refuse the file if any line is bad")
    batch.add_argument(
        "--shard",
        metavar="K/N|auto",
        help="send only shard K of N (K from 0), chosen by request key; auto: from "
        "JOB_COMPLETION_INDEX/JOB_COMPLETIONS (Kubernetes) or SLURM_ARRAY_TASK_* (Slurm)",
    )
    _add_request_options(batch, defaults=True)
    _add_no_metadata(batch)
    _add_no_gallery(batch)
    _add_progress(batch)
    _add_json(batch, "one record per item and a summary")


def _batch_limits(batch: argparse.ArgumentParser) -> None:
    batch.add_argument(
        "--max-outage",
        type=_non_negative_float,
        metavar="SECONDS",
        help="stop (resumably) once the API has been down this long (default: 600)",
    )
    batch.add_argument(
        "--max-spend-usd",
        type=_non_negative_float,
        metavar="USD",
        help="stop starting requests once the reported spend could pass this",
    )
    batch.add_argument(
        "--max-credits",
        type=_non_negative_float,
        metavar="CREDITS",
        help="the same cap, in API credits",
    )


def _batch_variations(batch: argparse.ArgumentParser) -> None:
    batch.add_argument(
        "--template", metavar="TEXT", help='a prompt template: "a {animal} in {style} style"'
    )
    batch.add_argument(
        "--var",
        action="append",
        metavar="NAME=VALUES",
        help="values of a placeholder, comma-separated, or @FILE (one per line); repeatable",
    )
    batch.add_argument(
        "--repeat", type=_positive_int, default=1, metavar="N", help="send each request N times"
    )


def _status_command(commands: argparse._SubParsersAction[_Parser]) -> None:
    status = commands.add_parser(
        "status",
        help="sum up a batch's folder: every shard's manifest in one summary",
        description="Read every manifest in OUT_DIR (manifest.jsonl and one per shard) "
        "and sum them up: requests by outcome, images, spend, a line per manifest, "
        "shards that have not started.",
        epilog="exit codes: 0 every request ok and every shard started; 1 some failed or "
        "skipped, or a shard has no manifest; 2 usage error (no such folder, no manifest).",
    )
    status.add_argument("out_dir", metavar="OUT_DIR", help="the folder of a batch (its -o)")
    _add_json(status, "the summary")


def _gallery_command(commands: argparse._SubParsersAction[_Parser]) -> None:
    commands.add_parser(
        "gallery",
        help="write OUT/index.html: a gallery of a batch's images, for a browser",
        description="Write OUT/index.html from OUT's manifest: every item of the batch "
        "(failed and skipped ones too), searchable, one file that works offline. "
        "batch and demo write it at their end unless --no-gallery.",
    ).add_argument("folder", metavar="OUT", help="the folder a batch wrote (its -o)")


def _demo_arguments(demo: argparse.ArgumentParser) -> None:
    demo.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        default="nanobanana-demo",
        help="default: ./nanobanana-demo",
    )
    _add_no_metadata(demo)
    _add_no_gallery(demo)
    _add_progress(demo)


def _add_inspect(commands: argparse._SubParsersAction[_Parser]) -> None:
    inspect = commands.add_parser(
        "inspect",
        help="print the generation record saved in images",
        description="Print the generation record each image carries (or its NAME.json "
        "sidecar): prompt, model, parameters, request id, usage. Exit code 1 when a "
        "file has none or cannot be read.",
    )
    inspect.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    _add_json(inspect, "the records (one JSON object per image)")
