"""Plugin host: every hook works, broken plugins are isolated, names never clash silently."""
from __future__ import annotations

import inspect
import json

from kelcore import hookspecs
from kelcore.plugins import unknown_name_message

HOOKS = [name for name, fn in vars(hookspecs).items() if name.startswith("kelcore_") and callable(fn)]


def plugins_json(kelcore, env):
    result = kelcore("plugins", "--json", env=env)
    assert result.returncode == 0, result.stderr
    return {p["distribution"]: p for p in json.loads(result.stdout)}


def test_every_hook_is_documented():
    for name in HOOKS:
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert ":param register:" in doc, f"{name} has no :param register: documentation"


def test_test_plugin_exercises_every_hook_and_lists_components(kelcore, plugin_env):
    plugins = plugins_json(kelcore, plugin_env("kel-test-plugin"))
    toy = plugins["kel-test-plugin"]
    assert toy["error"] is None
    assert sorted(toy["hooks"]) == sorted(HOOKS)
    assert toy["components"] == {"models": ["toy-dynamics"], "datasets": ["toy-notes"], "trainers": ["sgd"],
                                 "exporters": ["torchjson"], "commands": ["toy-hello"]}
    assert toy["version"] == "0.1.0"


def test_plugin_command_runs_through_the_cli(kelcore, plugin_env):
    result = kelcore("toy-hello", "--name", "kel", env=plugin_env("kel-test-plugin"))
    assert (result.returncode, result.stdout) == (0, "hello, kel\n")


def test_list_shows_components_with_options(kelcore, plugin_env):
    env = plugin_env("kel-test-plugin")
    result = kelcore("list", "models", "--json", env=env)
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == ["toy-dynamics"]
    assert rows[0]["spec"] == "DynamicsEngine"
    assert rows[0]["options"][0]["name"] == "slow_ms"
    text = kelcore("list", "datasets", env=env).stdout
    assert "toy-notes  (kel-test-plugin 0.1.0)" in text
    assert "root: Path (required) - unused folder" in text
    trainers = json.loads(kelcore("list", "trainers", "--json", env=env).stdout)
    assert [t["name"] for t in trainers] == ["default", "sgd"]


def test_broken_plugin_is_reported_and_others_keep_working(kelcore, plugin_env):
    env = plugin_env("kel-test-plugin", "kel-broken-plugin")
    plugins = plugins_json(kelcore, env)
    assert "ImportError: kel_broken_plugin needs a package" in plugins["kel-broken-plugin"]["error"]
    assert plugins["kel-test-plugin"]["error"] is None
    text = kelcore("plugins", env=env).stdout
    assert "LOAD ERROR: ImportError" in text
    assert kelcore("toy-hello", env=env).returncode == 0
    assert "toy-dynamics" in kelcore("list", "models", env=env).stdout


def test_strict_mode_makes_a_broken_plugin_fatal(kelcore, plugin_env):
    env = plugin_env("kel-test-plugin", "kel-broken-plugin", KELCORE_STRICT_PLUGINS="1")
    result = kelcore("plugins", env=env)
    assert result.returncode == 2
    assert "plugin 'broken' (kel-broken-plugin 0.1.0) failed to load: ImportError" in result.stderr


def test_allow_list_loads_only_named_plugins(kelcore, plugin_env):
    env = plugin_env("kel-test-plugin", "kel-broken-plugin", only=False, KELCORE_LOAD_PLUGINS="toy")
    plugins = plugins_json(kelcore, env)
    assert "kel-test-plugin" in plugins and "kel-broken-plugin" not in plugins
    env["KELCORE_LOAD_PLUGINS"] = ""
    plugins = plugins_json(kelcore, env)
    assert all(dist.startswith("kelcore") for dist in plugins), plugins.keys()


def test_duplicate_names_are_an_error_naming_both_distributions(kelcore, plugin_env):
    env = plugin_env("kel-test-plugin", "kel-dupe-plugin")
    plugins = plugins_json(kelcore, env)
    expected = ("model name 'toy-dynamics' is registered twice: by kel-dupe-plugin 0.1.0 and by "
                "kel-test-plugin 0.1.0; uninstall one of them")
    assert expected in plugins["kel-test-plugin"]["error"]
    check = kelcore("check-config", "nothing.toml", env=env)  # any command still starts
    assert check.returncode == 2 and "cannot read" in check.stderr


def test_unknown_name_message_suggests_the_closest():
    assert unknown_name_message("models", "grove", ["emotion", "groove"]) == (
        "unknown model 'grove'; installed: emotion, groove; did you mean 'groove'?")


def test_provider_of_finds_a_distribution_put_on_the_path_after_an_earlier_lookup(tmp_path, monkeypatch):
    """provider_of caches the installed packages' map (reading it costs ~0.4 s), per sys.path: a folder added later
    (a test, an embedding host) is still seen, with its distribution's name and version."""
    import importlib

    from kelcore.api import SequenceModel
    from kelcore.plugins import provider_of

    provider_of(SequenceModel)  # fills the cache for the path as it was
    (tmp_path / "kel_late_pkg").mkdir()
    (tmp_path / "kel_late_pkg" / "__init__.py").write_text("class Late:\n    pass\n")
    info = tmp_path / "kel_late_pkg-1.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: kel-late-pkg\nVersion: 1.2\n")
    (info / "top_level.txt").write_text("kel_late_pkg\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    late = importlib.import_module("kel_late_pkg").Late
    assert provider_of(late) == {"name": "kel-late-pkg", "version": "1.2"}
