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
