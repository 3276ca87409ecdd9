import json
from pathlib import Path

import pytest

from factory_ai.errors import ModelError
from factory_ai.registry import Registry, read_card, sha256_file, verified_artifact, write_card


def _add_version(registry: Registry, name: str, payload: bytes = b"onnx") -> str:
    version, staging = registry.staging_dir(name)
    (staging / "model.onnx").write_bytes(payload + version.encode())
    write_card(staging, {"name": name, "version": version, "family": "test",
                         "artifacts": {"model.onnx": {"sha256": sha256_file(staging / "model.onnx")}}})
    registry.commit(name, version, staging)
    return version


def test_versions_are_numbered_and_sorted(tmp_path: Path) -> None:
    registry = Registry(tmp_path, fallbacks=())
    made = [_add_version(registry, "surface") for _ in range(11)]
    assert made == [f"v{i}" for i in range(1, 12)]
    assert registry.versions("surface")[-2:] == ["v10", "v11"]  # numeric, not text order
    assert registry.current("surface") is None
    assert not list((tmp_path / "surface").glob(".*partial"))


def test_resolve_by_name_version_and_folder(tmp_path: Path) -> None:
    registry = Registry(tmp_path, fallbacks=())
    _add_version(registry, "m")
    _add_version(registry, "m")
    with pytest.raises(ModelError, match="no current version"):
        registry.resolve("m")
    registry.promote("m", "v1")
    assert registry.resolve("m").version == "v1"
    assert registry.resolve("m:v2").path == tmp_path / "m" / "v2"
    assert registry.resolve(str(tmp_path / "m" / "v2")).version == "v2"
    with pytest.raises(ModelError, match="registered: m"):
        registry.resolve("other")
    with pytest.raises(ModelError, match="versions: v1, v2"):
        registry.resolve("m:v9")


def test_promote_and_rollback_follow_history(tmp_path: Path) -> None:
    registry = Registry(tmp_path, fallbacks=())
    for _ in range(3):
        _add_version(registry, "m")
    registry.promote("m", "v1")
    registry.promote("m", "v2")
    registry.promote("m", "v3", reason="better escape rate")
    assert registry.rollback("m").version == "v2"
    assert registry.current("m") == "v2"
    assert registry.rollback("m").version == "v1"
    with pytest.raises(ModelError, match="nothing to roll back"):
        registry.rollback("m")
    actions = [(e["action"], e["version"], e["previous"]) for e in registry.history("m")]
    assert actions == [("promote", "v1", None), ("promote", "v2", "v1"), ("promote", "v3", "v2"),
                       ("rollback", "v2", "v3"), ("rollback", "v1", "v2")]
    assert registry.history("m")[2]["reason"] == "better escape rate"


def test_changed_file_is_refused(tmp_path: Path) -> None:
    registry = Registry(tmp_path, fallbacks=())
    _add_version(registry, "m")
    path = tmp_path / "m" / "v1"
    verified_artifact(path, read_card(path), "model.onnx")
    (path / "model.onnx").write_bytes(b"tampered")
    with pytest.raises(ModelError, match="does not match the card"):
        verified_artifact(path, read_card(path), "model.onnx")
    with pytest.raises(ModelError, match="does not match"):
        registry.promote("m", "v1")
    (path / "model.onnx").unlink()
    with pytest.raises(ModelError, match="model file missing"):
        verified_artifact(path, read_card(path), "model.onnx")


def test_bad_cards_and_names(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    with pytest.raises(ModelError, match="no card.json"):
        read_card(folder)
    (folder / "card.json").write_text("{not json")
    with pytest.raises(ModelError, match="unreadable model card"):
        read_card(folder)
    (folder / "card.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(ModelError, match="no 'artifacts'"):
        read_card(folder)
    with pytest.raises(ModelError, match="invalid model name"):
        Registry(tmp_path, fallbacks=()).staging_dir("../escape")


def test_fallback_folder_is_read_only(tmp_path: Path) -> None:
    bundled = tmp_path / "bundled"
    _add_version(Registry(bundled, fallbacks=()), "demo")
    Registry(bundled, fallbacks=()).promote("demo", "v1")
    registry = Registry(tmp_path / "plant", fallbacks=(bundled,))
    assert registry.names() == ["demo"]
    assert registry.resolve("demo").path == bundled / "demo" / "v1"
    with pytest.raises(ModelError, match="read-only"):
        registry.promote("demo", "v1")


def test_bundled_demo_model_is_found_from_anywhere(tmp_path: Path) -> None:
    """The committed demo model ships with the package (wheel) or the clone's models/."""
    from factory_ai.registry import BUNDLED

    root = Path(__file__).resolve().parent.parent / "models"
    registry = Registry(tmp_path, fallbacks=(BUNDLED, root))
    ref = registry.resolve("demo-surface")
    card = read_card(ref.path)
    verified_artifact(ref.path, card, "model.onnx")
    assert card["family"] == "vision-classifier"
