"""Writing files whole, and naming them in figure titles."""

import pytest

from digits.files import atomic_path, short_path, write_text


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path):
    path = tmp_path / "table.md"
    write_text(path, "old")

    class Interrupted(Exception):
        pass

    with pytest.raises(Interrupted):
        with atomic_path(path) as temporary:
            temporary.write_text("half")
            raise Interrupted
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.md"]


def test_titles_name_a_folder_relative_to_the_working_folder_or_by_its_last_two_parts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert short_path(tmp_path / "models" / "cnn") == "models/cnn"
    assert short_path("drawn/validation") == "drawn/validation"
    elsewhere = tmp_path.parent / "runs-1234" / "drawn" / "validation"
    assert short_path(elsewhere) == "drawn/validation"


def test_the_temporary_file_keeps_every_suffix_for_the_writers_that_pick_a_format_by_name(tmp_path):
    with atomic_path(tmp_path / "after-epoch-3.weights.h5") as temporary:
        assert temporary.name.endswith(".weights.h5") and temporary.parent == tmp_path
        temporary.write_text("weights")
    assert [p.name for p in tmp_path.iterdir()] == ["after-epoch-3.weights.h5"]
