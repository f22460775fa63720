"""Readers: what a curator hands us (folder, zip, CSV manifest) becomes the same records."""

from __future__ import annotations

import threading
import zipfile
from pathlib import Path

import pytest

from dataset_tools.readers import (
    IMAGE_SUFFIXES,
    Source,
    SourceError,
    SourceReadError,
    open_source,
)

# (path relative to SOURCE, is it an image record?)
LAYOUT = {
    "impressionism/monet_01.jpg": True,
    "impressionism/series/monet_02.PNG": True,  # nested: label is still the first level
    "baroque/caravaggio.jpeg": True,
    "baroque/vermeer.webp": True,
    "loose.jpg": True,  # top level: no label
    "baroque/scan.tif": False,  # visible non-image: counted
    "notes.txt": False,
    ".DS_Store": None,  # junk: ignored silently
    "Thumbs.db": None,
    "impressionism/.hidden.jpg": None,
    ".git/objects/x.jpg": None,
    "__MACOSX/impressionism/._monet_01.jpg": None,
}
EXPECTED = [
    ("baroque/caravaggio.jpeg", ("baroque",)),
    ("baroque/vermeer.webp", ("baroque",)),
    ("impressionism/monet_01.jpg", ("impressionism",)),
    ("impressionism/series/monet_02.PNG", ("impressionism",)),
    ("loose.jpg", ()),
]


def _content(rel: str) -> bytes:
    return f"bytes of {rel}".encode() * 50


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "collection"
    for rel in LAYOUT:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_content(rel))
    return root


def _zip_of(folder: Path, dest: Path, *, compression: int, wrapper: str = "") -> Path:
    with zipfile.ZipFile(dest, "w", compression=compression) as zf:
        for rel in LAYOUT:
            # Finder puts its resource forks beside the wrapper, not inside it.
            zf.write(folder / rel, rel if rel.startswith("__MACOSX/") else wrapper + rel)
    return dest


def _summary(source: Source) -> list[tuple[str, tuple[str, ...], bytes]]:
    return [(r.source_path, r.labels, r.read()) for r in source]


def test_folder_labels_nested_paths_and_junk(folder: Path) -> None:
    source = open_source(folder)
    assert isinstance(source, Source)
    assert source.kind == "folder"
    assert len(source) == 5
    assert [(r.source_path, r.labels) for r in source] == EXPECTED
    assert source.skipped_non_image == 2  # scan.tif, notes.txt; junk is not counted
    first = next(iter(source))
    assert first.read() == _content("baroque/caravaggio.jpeg")
    assert first.title is None and first.extra == {}


def test_image_suffixes_are_case_insensitive(folder: Path) -> None:
    suffixes = {Path(r.source_path).suffix.lower() for r in open_source(folder)}
    assert suffixes <= IMAGE_SUFFIXES
    assert ".png" in suffixes  # from "monet_02.PNG"


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED], ids=["stored", "deflate"])
def test_zip_yields_the_same_records_as_the_folder(folder: Path, tmp_path: Path, compression: int) -> None:
    archive = open_source(_zip_of(folder, tmp_path / "c.zip", compression=compression))
    assert archive.kind == "zip"
    assert len(archive) == 5
    assert _summary(archive) == _summary(open_source(folder))
    assert archive.skipped_non_image == 2
    archive.close()


def test_zip_of_a_whole_folder_strips_the_wrapper(folder: Path, tmp_path: Path) -> None:
    # What Finder's "Compress" or `zip -r collection.zip collection/` produces.
    archive = open_source(_zip_of(folder, tmp_path / "c.zip", compression=zipfile.ZIP_DEFLATED, wrapper="collection/"))
    assert archive.prefix == "collection/"
    assert _summary(archive) == _summary(open_source(folder))


def test_zip_with_a_single_label_folder_keeps_it_as_the_label(tmp_path: Path) -> None:
    path = tmp_path / "one.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("impressionism/a.jpg", b"a")
        zf.writestr("impressionism/b.jpg", b"b")
    assert [(r.source_path, r.labels) for r in open_source(path)] == [
        ("impressionism/a.jpg", ("impressionism",)),
        ("impressionism/b.jpg", ("impressionism",)),
    ]


def test_zip_ignores_names_that_climb_out_and_normalises_slashes(tmp_path: Path) -> None:
    path = tmp_path / "odd.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("../../etc/evil.jpg", b"x")
        zf.writestr("/abs/ok.jpg", b"y")
        zf.writestr("win\\style\\z.jpg", b"z")
    records = {r.source_path: r for r in open_source(path)}
    assert set(records) == {"abs/ok.jpg", "win/style/z.jpg"}
    assert records["win/style/z.jpg"].labels == ("win",)
    assert records["abs/ok.jpg"].read() == b"y"
    assert not (tmp_path.parent / "etc").exists()


def test_zip_oversized_member_fails_only_that_record(tmp_path: Path) -> None:
    path = tmp_path / "big.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a/bomb.jpg", b"\0" * 10_000)  # compresses to a few bytes
        zf.writestr("a/small.jpg", b"ok")
    source = open_source(path, max_bytes=1_000)
    bomb, small = list(source)
    with pytest.raises(SourceReadError, match="limit") as err:
        bomb.read()
    assert err.value.source_path == "a/bomb.jpg"
    assert small.read() == b"ok"


def test_zip_reads_are_thread_safe(tmp_path: Path) -> None:
    path = tmp_path / "many.zip"
    expected = {f"s{i % 4}/img_{i:03d}.jpg": bytes([i % 251]) * (1000 + 37 * i) for i in range(120)}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in expected.items():
            zf.writestr(name, data)
    source = open_source(path)
    records = list(source)
    errors: list[str] = []

    def worker(offset: int) -> None:
        for k in range(len(records)):
            record = records[(k + offset) % len(records)]
            if record.read() != expected[record.source_path]:
                errors.append(record.source_path)

    threads = [threading.Thread(target=worker, args=(13 * t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    source.close()
    assert errors == []


def _write_manifest(tmp_path: Path, text: str, *, bom: bool = True) -> Path:
    path = tmp_path / "manifest.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def test_csv_manifest_labels_title_extra_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.jpg").write_bytes(b"A")
    (tmp_path / "img" / "b.png").write_bytes(b"B")
    outside = tmp_path / "elsewhere.webp"
    outside.write_bytes(b"C")
    manifest = _write_manifest(
        tmp_path,
        "Path,Label,Title,creator,date\n"
        'img/a.jpg,portrait; baroque,"Girl with a Pearl Earring",Vermeer,1665\n'
        "img\\b.png,landscape|impressionism,,Monet,\n"
        f"{outside},,Absolute,,\n"
        "img/missing.jpg,portrait,Lost,,\n"
        "img/readme.txt,,,,\n",
    )
    source = open_source(manifest)
    assert source.kind == "csv"
    assert len(source) == 4
    assert source.skipped_non_image == 1
    a, b, c, missing = list(source)
    assert a.source_path == "img/a.jpg"
    assert a.labels == ("portrait", "baroque")
    assert a.title == "Girl with a Pearl Earring"
    assert a.extra == {"creator": "Vermeer", "date": "1665"}
    assert a.read() == b"A"
    assert (b.source_path, b.labels, b.title, b.extra) == (
        "img/b.png",
        ("landscape", "impressionism"),
        None,
        {"creator": "Monet"},
    )
    assert b.read() == b"B"
    assert c.source_path == outside.as_posix()
    with pytest.raises(SourceReadError, match="absolute path") as refused:
        c.read()
    assert refused.value.code == "outside_source"
    with pytest.raises(SourceReadError, match="not found"):
        missing.read()


def test_csv_repeated_path_merges_labels_and_semicolon_delimiter(tmp_path: Path) -> None:
    (tmp_path / "x.jpg").write_bytes(b"X")
    manifest = _write_manifest(tmp_path, "path;label\nx.jpg;portrait\nx.jpg;baroque\nx.jpg;portrait\n", bom=False)
    (record,) = list(open_source(manifest))
    assert record.labels == ("portrait", "baroque")


@pytest.mark.parametrize(
    "text, message",
    [("file,label\na.jpg,x\n", "no 'path' column"), ("", "empty"), ("\n\n", "empty")],
)
def test_csv_without_path_header_is_a_source_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        open_source(_write_manifest(tmp_path, text))


def test_unusable_sources_are_source_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        open_source(tmp_path / "nope")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(SourceError, match="not a folder"):
        open_source(notes)
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(SourceError, match="not a readable zip"):
        open_source(broken)
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("path,title\na.jpg,Caf\xe9\n".encode("latin-1"))
    with pytest.raises(SourceError, match="UTF-8"):
        open_source(latin1)
    assert issubclass(SourceError, ValueError) and issubclass(SourceReadError, OSError)


def test_folder_file_deleted_after_listing_is_a_read_error(folder: Path) -> None:
    source = open_source(folder)
    (folder / "loose.jpg").unlink()
    records = {r.source_path: r for r in source}
    with pytest.raises(SourceReadError):
        records["loose.jpg"].read()
    assert records["baroque/vermeer.webp"].read() == _content("baroque/vermeer.webp")


def test_wikiart_zip_lists_every_style(wikiart_zip: Path) -> None:
    with open_source(wikiart_zip) as source:
        assert len(source) == 3580
        labels = {r.labels for r in source}
        assert len(labels) == 7 and all(len(lbl) == 1 for lbl in labels)
        first = next(iter(source))
        assert first.read()[:3] == b"\xff\xd8\xff"  # a JPEG


# --------------------------------------------------------------------------- staying inside SOURCE


def test_folder_symlinks_are_read_only_when_they_end_inside(tmp_path: Path) -> None:
    secret = tmp_path / "secret.jpg"  # outside the folder, and it even looks like an image
    secret.write_bytes(b"SECRET")
    root = tmp_path / "collection"
    (root / "portrait").mkdir(parents=True)
    (root / "portrait" / "real.jpg").write_bytes(b"REAL")
    (root / "portrait" / "passwd.jpg").symlink_to("/etc/passwd")
    (root / "portrait" / "secret.jpg").symlink_to(secret)
    (root / "portrait" / "alias.jpg").symlink_to(root / "portrait" / "real.jpg")
    records = {r.source_path: r for r in open_source(root)}
    assert records["portrait/alias.jpg"].read() == b"REAL"
    for name in ("portrait/passwd.jpg", "portrait/secret.jpg"):
        with pytest.raises(SourceReadError, match="outside the source") as info:
            records[name].read()
        assert info.value.code == "outside_source"


def test_a_file_swapped_for_a_link_after_listing_is_refused(tmp_path: Path) -> None:
    (tmp_path / "outside.jpg").write_bytes(b"OUT")
    root = tmp_path / "c"
    root.mkdir()
    (root / "a.jpg").write_bytes(b"A")
    (record,) = list(open_source(root))
    (root / "a.jpg").unlink()
    (root / "a.jpg").symlink_to(tmp_path / "outside.jpg")
    with pytest.raises(SourceReadError, match="outside the source"):
        record.read()


@pytest.mark.parametrize("path", ["../outside.jpg", "img/../../outside.jpg", "link/outside.jpg", "/etc/passwd.jpg"])
def test_manifest_paths_must_stay_in_the_manifest_folder(tmp_path: Path, path: str) -> None:
    (tmp_path / "outside.jpg").write_bytes(b"OUT")
    folder = tmp_path / "set"
    (folder / "img").mkdir(parents=True)
    (folder / "img" / "in.jpg").write_bytes(b"IN")
    (folder / "link").symlink_to(tmp_path, target_is_directory=True)
    manifest = folder / "manifest.csv"
    manifest.write_text(f"path\nimg/../img/in.jpg\n{path}\n")
    inside, other = list(open_source(manifest))
    assert inside.read() == b"IN"
    with pytest.raises(SourceReadError) as info:
        other.read()
    assert info.value.code == "outside_source"
