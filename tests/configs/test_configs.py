from dataclasses import dataclass, field

import pytest

from finephys_cli.configs import config_hash, dump_toml, keyed_fields, load_config
from finephys_cli.errors import ConfigError


@dataclass
class Inner:
    lr: float = 5e-4
    steps: int = 10


@dataclass
class Outer:
    name: str = "x"
    frames: int = 16
    scales: tuple[int, ...] = (1, 8)
    optim: Inner = field(default_factory=Inner)


def test_overrides_and_types(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('frames = 32\n[optim]\nsteps = 5\n')
    cfg = load_config(Outer, toml, ["optim.lr=1e-3", "name=abc", "scales=[1, 2, 4]"])
    assert cfg.frames == 32 and cfg.optim.steps == 5 and cfg.optim.lr == 1e-3
    assert cfg.name == "abc" and cfg.scales == (1, 2, 4)


def test_none_unsets_an_optional_key_only():
    @dataclass
    class Opt:
        std: float | None = 1.0
        name: str = "x"

    assert load_config(Opt, None, ["std=none"]).std is None
    assert load_config(Opt, None, ["std=null", "name=none"]).name == "none"
    assert load_config(Opt, None, ["std=0.5"]).std == 0.5


def test_unknown_key_suggests_close_match():
    with pytest.raises(ConfigError, match="did you mean frames"):
        load_config(Outer, None, ["frame=3"])
    with pytest.raises(ConfigError, match="did you mean steps"):
        load_config(Outer, None, ["optim.step=3"])


def test_wrong_type_is_refused():
    with pytest.raises(ConfigError, match="frames"):
        load_config(Outer, None, ["frames=abc"])


def test_hash_is_canonical_and_sensitive():
    a, b = Outer(), load_config(Outer)
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash(load_config(Outer, None, ["frames=17"]))


def test_toml_round_trip(tmp_path):
    cfg = load_config(Outer, None, ["optim.lr=0.25", "name=q"])
    path = tmp_path / "out.toml"
    path.write_text(dump_toml(cfg))
    assert load_config(Outer, path) == cfg


def test_a_field_added_later_leaves_the_hash_alone_at_its_old_behaviour():
    @dataclass
    class Old:
        steps: int = 25

    @dataclass
    class New:
        steps: int = 25
        step_cache: int = 1

    assert config_hash(keyed_fields(New(), {"step_cache": 1})) == config_hash(Old())
    assert config_hash(keyed_fields(New(step_cache=2), {"step_cache": 1})) != \
        config_hash(Old())


def test_a_config_file_wins_over_option_defaults_but_not_over_given_options(tmp_path):
    """`-c FILE` with a key that also has a command-line option: the file's value stands
    unless the option was given (it was silently replaced by the option's default)."""
    import typer
    from typer.testing import CliRunner

    @dataclass
    class Cfg:
        size: int = 384
        seed: int = 0

    seen = {}
    app = typer.Typer()

    @app.command()
    def run(config: str = "", size: int = 384, seed: int = 0) -> None:
        seen["cfg"] = load_config(Cfg, tmp_path / config if config else None, None,
                                  size=size, seed=seed)

    @app.command()
    def other() -> None:
        pass

    (tmp_path / "c.toml").write_text("size = 64\nseed = 5\n")
    runner = CliRunner()
    assert runner.invoke(app, ["run", "--config", "c.toml"]).exit_code == 0
    assert seen["cfg"] == Cfg(size=64, seed=5)
    assert runner.invoke(app, ["run", "--config", "c.toml", "--size", "384"]).exit_code == 0
    assert seen["cfg"] == Cfg(size=384, seed=5)          # given on the command line: it wins
    assert runner.invoke(app, ["run", "--seed", "7"]).exit_code == 0
    assert seen["cfg"] == Cfg(size=384, seed=7)
    assert load_config(Cfg, tmp_path / "c.toml", None, size=100) == Cfg(size=100, seed=5)
