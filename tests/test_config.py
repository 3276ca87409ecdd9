from pathlib import Path

import pytest

from factory_ai.config import load_settings
from factory_ai.errors import ConfigError


def test_no_config_gives_working_defaults(plant: Path) -> None:
    settings = load_settings(environ={})
    assert settings.source is None
    assert settings.database_url == f"sqlite:///{plant / 'var' / 'factory.db'}"
    assert settings.models_dir == plant / "models"
    assert settings.inspect.model == "demo-surface"


def test_file_values_and_paths_relative_to_the_file(plant: Path) -> None:
    conf = plant / "etc" / "factory.toml"
    conf.parent.mkdir()
    conf.write_text('[store]\nurl = "sqlite:///data/plant.db"\n[models]\ndir = "registry"\n[runtime]\nthreads = 3\n')
    settings = load_settings(conf, environ={})
    assert settings.source == conf.resolve()
    assert settings.database_url == f"sqlite:///{plant / 'etc' / 'data' / 'plant.db'}"
    assert settings.models_dir == plant / "etc" / "registry"
    assert settings.runtime.threads == 3


def test_config_found_through_environment_and_cwd(plant: Path) -> None:
    (plant / "factory.toml").write_text("[inspect]\nbatch = 8\n")
    assert load_settings(environ={}).inspect.batch == 8
    other = plant / "other.toml"
    other.write_text("[inspect]\nbatch = 4\n")
    assert load_settings(environ={"FACTORY_AI_CONFIG": str(other)}).inspect.batch == 4
    # An explicit --config wins over both.
    explicit = plant / "explicit.toml"
    explicit.write_text("[inspect]\nbatch = 2\n")
    assert load_settings(explicit, environ={"FACTORY_AI_CONFIG": str(other)}).inspect.batch == 2


def test_environment_overrides_file(plant: Path) -> None:
    conf = plant / "factory.toml"
    conf.write_text('[store]\nurl = "sqlite:///a.db"\n')
    env = {"FACTORY_AI_STORE__URL": "postgresql+psycopg://u@db/plant", "FACTORY_AI_RUNTIME__THREADS": "5"}
    settings = load_settings(conf, environ=env)
    assert settings.database_url == "postgresql+psycopg://u@db/plant"
    assert settings.runtime.threads == 5


def test_unknown_key_names_file_and_key(plant: Path) -> None:
    conf = plant / "factory.toml"
    conf.write_text("[runtime]\nthreds = 2\n")
    with pytest.raises(ConfigError) as err:
        load_settings(conf, environ={})
    assert str(conf.resolve()) in str(err.value)
    assert "[runtime] threds" in str(err.value)


def test_bad_value_names_environment_variable(plant: Path) -> None:
    with pytest.raises(ConfigError, match="FACTORY_AI_RUNTIME__THREADS.*threads"):
        load_settings(environ={"FACTORY_AI_RUNTIME__THREADS": "many"})
    with pytest.raises(ConfigError, match="FACTORY_AI_RUNTIME__DEVICE"):
        load_settings(environ={"FACTORY_AI_RUNTIME__DEVICE": "tpu"})


def test_malformed_and_missing_files(plant: Path) -> None:
    bad = plant / "bad.toml"
    bad.write_text("[store\nurl=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(bad, environ={})
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(plant / "nope.toml", environ={})
    with pytest.raises(ConfigError, match="FACTORY_AI_CONFIG"):
        load_settings(environ={"FACTORY_AI_CONFIG": str(plant / "nope.toml")})
    with pytest.raises(ConfigError, match="FACTORY_AI_<SECTION>__<KEY>"):
        load_settings(environ={"FACTORY_AI_THREADS": "2"})
