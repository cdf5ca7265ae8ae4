"""``nanobanana inspect`` prints back the record the other commands saved, and
``--no-metadata`` makes generate, edit, batch and demo write bare files."""

from __future__ import annotations

import json
from pathlib import Path

from _helpers import cli
from _provenance_helpers import WEBP_LOSSY, a_record, tiny_jpeg

import nanobanana as nb
from nanobanana.testing import make_png


def generate(tmp_path: Path, *flags: str) -> Path:
    run = cli("generate", "a red kite\nover the sea", "--fake", "-q", "-o", str(tmp_path), *flags)
    assert run.returncode == 0, run.stderr
    return Path(run.stdout.strip())


def test_inspect_prints_what_generate_saved(tmp_path: Path) -> None:
    image = generate(tmp_path, "--aspect-ratio", "16:9", "-m", "google/nano-banana-pro")

    run = cli("inspect", str(image))

    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[:5] == [
        str(image),
        "  prompt        a red kite",
        "                over the sea",
        "  model         google/nano-banana-pro",
        "  parameters    aspect_ratio=16:9",
    ]
    assert lines[6].startswith("  usage         $0.")
    assert "test-key" not in run.stdout


def test_inspect_json_gives_one_line_per_image_with_what_went_wrong(tmp_path: Path) -> None:
    image = generate(tmp_path)
    missing = tmp_path / "missing.png"

    run = cli("inspect", "--json", str(image), str(missing))

    assert run.returncode == 1
    first, second = (json.loads(line) for line in run.stdout.splitlines())
    assert first["record"]["prompt"] == "a red kite\nover the sea"
    assert first["source"] == str(image)
    assert first["error"] is None
    assert second == {
        "path": str(missing),
        "source": None,
        "record": None,
        "error": "cannot read it: No such file or directory",
    }
    assert f"{missing}: cannot read it" in run.stderr


def test_no_metadata_writes_a_bare_image_that_inspect_reports(tmp_path: Path) -> None:
    image = generate(tmp_path, "--no-metadata")

    run = cli("inspect", str(image))

    assert nb.read_metadata(image) is None
    assert run.returncode == 1
    assert run.stdout == ""
    assert run.stderr == f"nanobanana inspect: {image}: no generation record\n"


def test_inspect_reads_a_sidecar_and_says_so(tmp_path: Path) -> None:
    image = tmp_path / "signed.jpg"
    image.write_bytes(tiny_jpeg())
    sidecar = tmp_path / "signed.jpg.json"
    sidecar.write_text(json.dumps({"format": "nanobanana.record/1", "prompt": "p", "model": "m"}))

    run = cli("inspect", str(image))

    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == f"  read from     {sidecar}"


def test_inspect_shows_every_image_in_turn(tmp_path: Path) -> None:
    paths = []
    for name, data in [("a.png", make_png(8, 8, b"a")), ("b.webp", WEBP_LOSSY)]:
        record = a_record(f"prompt of {name}")
        image = nb.GeneratedImage(data=data, mime_type="image/x", record=record)
        paths.append(str(image.save(tmp_path / name)))

    run = cli("inspect", *paths)

    assert run.returncode == 0, run.stderr
    blocks = run.stdout.split("\n\n")
    assert [block.splitlines()[1] for block in blocks] == [
        "  prompt        prompt of a.png",
        "  prompt        prompt of b.webp",
    ]
    assert "  input image" not in run.stdout
    assert "  request id    req-42" in blocks[0]


def test_edit_saves_the_digest_of_its_input(tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    photo.write_bytes(make_png(16, 16, b"photo"))

    run = cli(
        "edit", "make it night", "-i", str(photo), "--fake", "-q", "-o", str(tmp_path / "out")
    )

    assert run.returncode == 0, run.stderr
    record = nb.read_metadata(Path(run.stdout.strip()))
    assert record is not None
    assert record.input_images[0].startswith("sha256:")


def test_batch_with_and_without_metadata(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red kite\na blue boat\n")

    for out, flags in [("with", ()), ("bare", ("--no-metadata",))]:
        args = ("batch", str(prompts), "-o", str(tmp_path / out), "--fake", "-q", *flags)
        run = cli(*args)
        assert run.returncode == 0, run.stderr

    with_records = [nb.read_metadata(p) for p in sorted((tmp_path / "with").glob("*.png"))]
    bare = [nb.read_metadata(p) for p in sorted((tmp_path / "bare").glob("*.png"))]
    assert [r.prompt for r in with_records if r is not None] == ["a red kite", "a blue boat"]
    assert bare == [None, None]


def test_demo_with_no_metadata_writes_bare_images(tmp_path: Path) -> None:
    run = cli("demo", "--no-metadata", "--progress", "off", "-o", str(tmp_path / "demo"))

    assert run.returncode == 0, run.stderr
    images = list((tmp_path / "demo").glob("*.png"))
    assert images
    assert all(nb.read_metadata(path) is None for path in images)
