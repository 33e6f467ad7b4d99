"""pySMART is found without PYTHONPATH in the directory where the facts role installs it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.lifeline.storage.plugins.module_utils import _smart_device
from ansible_collections.lifeline.storage.plugins.module_utils._smart_device import FACTS_ROLE_PYSMART_PATH, load_pysmart

ROLE_DEFAULTS = Path(__file__).resolve().parents[4] / "roles" / "facts" / "defaults" / "main.yml"


def test_the_searched_directory_is_the_facts_roles_default():
    assert FACTS_ROLE_PYSMART_PATH == yaml.safe_load(ROLE_DEFAULTS.read_text())["facts_pysmart_path"]


def importer_needing(directory: str):
    def importer():
        if directory not in sys.path:
            raise ImportError("No module named 'pySMART'")
        return ("classes",)
    return importer


def test_found_on_the_python_path_the_directory_is_not_added(tmp_path):
    assert load_pysmart(str(tmp_path), lambda: ("classes",)) == (("classes",), None)
    assert str(tmp_path) not in sys.path


def test_found_in_the_role_directory_when_not_on_the_python_path(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert load_pysmart(str(tmp_path), importer_needing(str(tmp_path))) == (("classes",), None)
    assert sys.path[-1] == str(tmp_path)  # appended: a pySMART installed elsewhere still wins


def test_missing_directory_gives_the_import_error(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = list(sys.path)
    classes, error = load_pysmart(str(tmp_path / "absent"), importer_needing(str(tmp_path / "absent")))
    assert classes is None and "No module named 'pySMART'" in error
    assert sys.path == before


def test_directory_without_pysmart_is_taken_off_the_path_again(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = list(sys.path)

    def never():
        raise ImportError("No module named 'pySMART'")
    classes, error = load_pysmart(str(tmp_path), never)
    assert classes is None and "No module named 'pySMART'" in error
    assert sys.path == before


def test_a_real_package_in_the_directory_is_imported(tmp_path, monkeypatch):
    # A stand-in package named like none installed, imported by the default importer's mechanism.
    package = tmp_path / "lifeline_fake_pysmart"
    package.mkdir()
    (package / "__init__.py").write_text("VALUE = 42\n")
    monkeypatch.setattr(sys, "path", list(sys.path))

    def importer():
        import lifeline_fake_pysmart  # pylint: disable=import-outside-toplevel,import-error
        return (lifeline_fake_pysmart.VALUE,)
    try:
        assert load_pysmart(str(tmp_path), importer) == ((42,), None)
    finally:
        sys.modules.pop("lifeline_fake_pysmart", None)


def test_the_module_uses_its_loader_result():
    assert (_smart_device.PYSMART_CLASSES is None) == (_smart_device.PYSMART_IMPORT_ERROR is not None)


def _forget(monkeypatch, prefixes: tuple[str, ...]) -> None:
    for name in list(sys.modules):
        if name.split(".")[0] in prefixes:
            monkeypatch.delitem(sys.modules, name)


def test_chardet_is_imported_only_when_pysmart_s_own_decoder_uses_it(monkeypatch):
    _forget(monkeypatch, ("pySMART", "chardet"))
    _smart_device._import_pysmart()
    # RunnerSmartctl replaces the one method that reads chardet: pySMART imported, chardet not yet.
    assert isinstance(sys.modules["chardet"], _smart_device.ImportedOnFirstUse)
    assert "chardet.universaldetector" not in sys.modules
    assert "_decode_output" not in vars(_smart_device.RunnerSmartctl) and "_exec" in vars(_smart_device.RunnerSmartctl)
    # pySMART's decoder, were it called, gets the real chardet.
    smartctl_module = sys.modules["pySMART.smartctl"]
    assert smartctl_module.chardet.detect(b"SMART overall-health")["encoding"] == "ascii"
    assert not isinstance(sys.modules["chardet"], _smart_device.ImportedOnFirstUse)


class Uninstalled:
    """A meta path finder for which NAME is not installed."""

    def __init__(self, name: str) -> None:
        self.name = name

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] == self.name:
            raise ModuleNotFoundError("No module named %r" % self.name, name=self.name)
        return None


def test_a_missing_chardet_still_makes_pysmart_unimportable(monkeypatch):
    _forget(monkeypatch, ("pySMART", "chardet"))
    monkeypatch.setattr(sys, "meta_path", [Uninstalled("chardet")] + sys.meta_path)
    with pytest.raises(ImportError, match="chardet"):
        _smart_device._import_pysmart()
    assert "chardet" not in sys.modules
