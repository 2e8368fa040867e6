"""Red-team cases on the ownership and model-file safety fixes: what a forged marker, a careless
``--out`` or a hostile archive can still make edgezoo do. In-process, no training: each case
drives the shared mechanism (zoo.core, zoo.imported) the commands go through."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from zoo.core.claim import replacing
from zoo.core.io import MAX_CONFIG_BYTES, ModelFileError
from zoo.core.marker import adopt_dir, claim_dir
from zoo.core.paths import LOCK, MARKER, RunDirError
from zoo.imported.files import check_model_file


def _build(out, identity=None, name="result.txt"):
    with replacing(out, "train", identity or {"model": "m", "dataset": "d"}) as b:
        (b.tmp / name).write_text("edgezoo's\n")
        b.commit()


def test_a_forged_build_marker_never_makes_a_users_sibling_an_abandoned_build(tmp_path):
    """A user's folder beside --out whose (forged or copied) marker says it is a build of it."""
    user = tmp_path / "notes"
    user.mkdir()
    (user / "precious.txt").write_text("mine")
    forged = {"schema": 2, "kind": "train", "entries": {}, "build": {"of": "out", "token": "x"}}
    (user / MARKER).write_text(json.dumps(forged))
    # even under a build-like name, the token must be the one the name carries
    hidden = tmp_path / ".out.train-1-deadbeef"
    hidden.mkdir()
    (hidden / "precious.txt").write_text("mine too")
    (hidden / MARKER).write_text(
        json.dumps({**forged, "build": {"of": "out", "token": "0bad0bad"}})
    )
    _build(tmp_path / "out")
    assert (user / "precious.txt").read_text() == "mine"
    assert (hidden / "precious.txt").read_text() == "mine too"
    assert (tmp_path / "out" / "result.txt").exists()


def test_an_abandoned_build_of_edgezoos_is_still_removed(tmp_path):
    """The control: a real build a killed process left (its name and token agree) goes."""
    out = tmp_path / "out"
    left = tmp_path / ".out.train-4242-0123abcd"
    left.mkdir()
    marker = {"schema": 2, "kind": "train", "entries": {}}
    (left / MARKER).write_text(json.dumps({**marker, "build": {"of": "out", "token": "0123abcd"}}))
    _build(out)
    assert not left.exists()


@pytest.mark.parametrize("spelling", [".", "./", "sub/..", ".."])
def test_out_dot_is_one_line_and_the_cwd_is_never_swapped_away(tmp_path, monkeypatch, spelling):
    """``--out .`` was a ValueError traceback (a build needs a name); with a name, the swap would
    remove the current directory under the user's shell. Refused in one line, nothing made."""
    work = tmp_path / "here"
    (work / "sub").mkdir(parents=True)
    monkeypatch.chdir(work / "sub" if spelling == ".." else work)
    os.rmdir(work / "sub") if spelling in (".", "./") else None
    with pytest.raises(RunDirError, match="current directory.*--out ./out"):
        _build(spelling)
    assert sorted(os.listdir(work)) == ([] if spelling in (".", "./") else ["sub"])
    _build("./out")  # the folder below it, as the message says
    assert Path(os.getcwd(), "out", "result.txt").exists()


@pytest.mark.parametrize("name", [MARKER, LOCK])
@pytest.mark.parametrize("shape", ["dir", "link"])
def test_a_marker_or_lock_that_is_a_directory_or_link_is_one_line(tmp_path, name, shape):
    out = tmp_path / "out"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine")
    if shape == "dir":
        (out / name).mkdir()
    else:
        (out / name).symlink_to(elsewhere / "keep.txt")
    with pytest.raises(RunDirError, match=f"{name}.*link or a directory"):
        claim_dir(out, "train")
    with pytest.raises(RunDirError, match=f"{name}.*link or a directory"):
        _build(out)
    assert (elsewhere / "keep.txt").read_text() == "mine"
    assert sorted(os.listdir(out)) == [name]


def test_adopt_refuses_the_home_directory_and_what_is_above_it(tmp_path, monkeypatch):
    home = tmp_path / "home" / "alice"
    home.mkdir(parents=True)
    (home / "config.json").write_text(json.dumps({"model": "m", "dataset": "d"}))
    (home / "thesis.tex").write_text("years of work")
    monkeypatch.setenv("HOME", str(home))
    for d in (home, home.parent):
        with pytest.raises(RunDirError, match="home directory.*delete every file"):
            adopt_dir(d)
    assert not (home / MARKER).exists()


def test_adopt_refuses_a_folder_that_holds_no_edgezoo_result_unless_told_the_kind(tmp_path):
    d = tmp_path / "photos"
    d.mkdir()
    (d / "cat.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(RunDirError, match="none of the files an edgezoo run writes.*--kind"):
        adopt_dir(d)
    assert not (d / MARKER).exists()
    assert adopt_dir(d, kind="train")["entries"].keys() == {"cat.jpg"}


def test_a_zip_bomb_config_is_refused_before_it_is_unpacked(tmp_path):
    p = tmp_path / "bomb.keras"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("metadata.json", "{}")
        z.writestr("config.json", b"{" + b" " * (MAX_CONFIG_BYTES + 1) + b"}")
    assert p.stat().st_size < 1 << 20
    with pytest.raises(ModelFileError, match="config.json unpacks to .* forged archive"):
        check_model_file(p)


def test_a_config_nested_beyond_the_recursion_limit_is_one_line(tmp_path):
    p = tmp_path / "deep.keras"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("metadata.json", "{}")
        z.writestr("config.json", '{"a":' * 100_000 + "1" + "}" * 100_000)
    with pytest.raises(ModelFileError, match="cannot be read as a Keras model"):
        check_model_file(p)


def test_data_that_is_no_regular_file_is_one_line_not_a_hang(tmp_path):
    """``import --data`` at a FIFO (open blocks for a writer) or a link to /dev/zero (sha256 and
    the reader never end): refused before anything reads it."""
    from training.datasets.registry import DatasetError
    from training.datasets.userdata import read_user_data

    os.mkfifo(tmp_path / "pipe.csv")
    (tmp_path / "zero.npz").symlink_to("/dev/zero")
    for name in ("pipe.csv", "zero.npz"):
        with pytest.raises(DatasetError, match="not a regular file"):
            read_user_data(tmp_path / name, input_shape=(4,))
    images = tmp_path / "images"
    (images / "cat").mkdir(parents=True)
    (images / "dog").mkdir()
    os.mkfifo(images / "dog" / "x.png")
    with pytest.raises(DatasetError, match=r"x\.png is not a regular file"):
        read_user_data(images, input_shape=(8, 8, 3))


def test_an_image_folder_with_a_link_loop_is_one_line(tmp_path):
    """Keras' reader follows links: a link back up made it walk the loop (20 s here) first."""
    from training.datasets.registry import DatasetError
    from training.datasets.userdata import read_user_data

    images = tmp_path / "images"
    (images / "cat").mkdir(parents=True)
    (images / "dog").mkdir()
    (images / "dog" / "again").symlink_to("..")
    with pytest.raises(DatasetError, match="again is a link to .*a loop"):
        read_user_data(images, input_shape=(8, 8, 3))


def test_a_csv_with_too_many_columns_is_one_line_before_parsing(tmp_path):
    """200k columns took over a minute in pandas before any message; the header alone decides."""
    from training.datasets.registry import DatasetError
    from training.datasets.sources import MAX_CSV_COLUMNS
    from training.datasets.userdata import read_user_data

    n = MAX_CSV_COLUMNS + 1
    p = tmp_path / "wide.csv"
    p.write_text(",".join(f"c{i}" for i in range(n)) + "\n" + ",".join("1" * n) + "\n")
    with pytest.raises(DatasetError, match=f"has {n + 0} columns .* at most {MAX_CSV_COLUMNS}"):
        read_user_data(p, input_shape=(n - 1,))


def test_an_edit_inside_a_recorded_directory_survives_a_rerun_even_at_the_same_size(tmp_path):
    """A recorded directory (an export's hls4ml/) was proved edgezoo's by its listing of names
    and sizes only: the user's same-size edit of a file inside was deleted by the next rerun."""
    out = tmp_path / "out"

    def build():
        with replacing(out, "export", {"model": "m"}) as b:
            (b.tmp / "hls4ml").mkdir()
            (b.tmp / "hls4ml" / "params.h").write_text("#define N 8\n")
            b.commit()

    build()
    params = out / "hls4ml" / "params.h"
    os.utime(params, ns=(1, 1))  # an edit on another day...
    params.write_text("#define N 9\n")  # ...of the same size
    with pytest.warns(UserWarning, match="kept in"):
        build()
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("out.kept-")]
    assert [(k / "hls4ml" / "params.h").read_text() for k in kept] == ["#define N 9\n"]
    assert params.read_text() == "#define N 8\n"
    build()  # the untouched rerun replaces edgezoo's own directory without keeping anything
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("out.kept-")]) == 1


def test_a_forged_marker_proves_only_what_it_hashes(tmp_path):
    """A marker the user wrote (or copied from a run) naming their folders as edgezoo's: a
    directory record without the listing hash, and names that lead out of the directory, make
    edgezoo delete nothing of theirs on a --force replace."""
    out, secret = tmp_path / "out", tmp_path / "secret"
    (out / "photos").mkdir(parents=True)
    (out / "photos" / "cat.jpg").write_text("meow")
    secret.mkdir()
    (secret / "key").write_text("k")
    forged = {
        "schema": 2,
        "kind": "import",
        "identity": {"model": "other"},
        "finished": True,
        "entries": {
            "photos": {"dir": True},
            "../secret": {"dir": True},
            str(secret): {"pending": True},
            "/": {"pending": True},
        },
    }
    (out / MARKER).write_text(json.dumps(forged))
    with replacing(out, "train", {"model": "m"}, force=True) as b:
        (b.tmp / "result.txt").write_text("new")
        b.commit()
    assert (out / "photos" / "cat.jpg").read_text() == "meow"  # carried over: the user's
    assert (out / "result.txt").read_text() == "new"
    assert (secret / "key").read_text() == "k"


def test_out_through_a_link_then_dotdot_is_where_the_system_puts_it(tmp_path):
    """``--out run/link/..`` names, for the system, the folder above the link's target (the
    user's elsewhere/); read lexically it was ``run`` itself, which edgezoo then rebuilt."""
    run, target = tmp_path / "run", tmp_path / "elsewhere" / "deep"
    target.mkdir(parents=True)
    _build(run)
    (run / "link").symlink_to(target)
    stamp = (run / "result.txt").stat().st_ino
    with pytest.raises(RunDirError, match="elsewhere exists, is not empty and was not written"):
        _build(run / "link" / "..")
    assert (run / "result.txt").stat().st_ino == stamp
    assert sorted(os.listdir(tmp_path / "elsewhere")) == ["deep"]
