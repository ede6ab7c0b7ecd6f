"""The TOML configuration: defaults, and errors that name the key."""

import pytest

from edgecast.daemon.config import Config, ConfigError, load, parse, read_password


def test_defaults_work_without_a_file():
    cfg = load(None)
    assert (cfg.mqtt.host, cfg.mqtt.port, cfg.mqtt.qos) == ("localhost", 1883, 1)
    assert cfg.topic("readings") == "edgecast/default/readings"
    assert cfg.topic("forecast") == "edgecast/default/forecast"
    assert cfg.topic("status") == "edgecast/default/status"
    assert cfg.client_id.startswith("edgecast-") and cfg.client_id.endswith("-default")
    assert cfg.model.path == ""


def test_a_full_file_is_read():
    cfg = parse("""
[mqtt]
host = "broker.lan"
port = 8883
client_id = "box-7"
user = "edgecast"
password_file = "/etc/edgecast/password"
tls_ca_certs = "/etc/ssl/ca.pem"
tls_insecure = false
keepalive = 30
qos = 1
protocol = "5"
[station]
id = "roof-1"
[topics]
forecast = "weather/{station}/forecast24"
[model]
path = "/var/lib/edgecast/model.tflite"
[state]
dir = "/var/lib/edgecast"
[gaps]
carry_forward_hours = 2
min_observed_fraction = 1
""")
    assert cfg.client_id == "box-7"
    assert cfg.topic("forecast") == "weather/roof-1/forecast24"
    assert cfg.gaps.min_observed_fraction == 1.0 and isinstance(cfg.gaps.min_observed_fraction, float)


@pytest.mark.parametrize("text, key", [
    ("[mqtt]\nprot = 1883", "mqtt.prot"),
    ("[mqtt]\nport = '1883'", "mqtt.port"),
    ("[mqtt]\nport = true", "mqtt.port"),
    ("[mqtt]\ntls_insecure = 1", "mqtt.tls_insecure"),
    ("[mqtt]\nport = 70000", "mqtt.port"),
    ("[mqtt]\nqos = 3", "mqtt.qos"),
    ("[mqtt]\nprotocol = '4'", "mqtt.protocol"),
    ("[mqtt]\ntls_client_key = 'k.pem'", "mqtt.tls_client_key"),
    ("[mqtt]\nclient_id = 'a#b'", "mqtt.client_id"),
    ("[station]\nid = 'roof/+'", "station.id"),
    ("[station]\nid = ''", "station.id"),
    ("[station]\nid = \"a\\u0000b\"", "station.id"),
    ("[topics]\nreadings = 'sensors/#'", "topics.readings"),
    ("[topics]\nforecast = 'x/{site}/f'", "topics.forecast"),
    ("[gaps]\ncarry_forward_hours = -1", "gaps.carry_forward_hours"),
    ("[gaps]\nmin_observed_fraction = 'all'", "gaps.min_observed_fraction"),
    ("[model]\nruntime = 'tensorflow'", "model.runtime"),
    ("[modle]\npath = 'x'", "modle"),
    ("mqtt = 3", "mqtt"),
    ("[readings]\nmax_payload_bytes = 10", "readings.max_payload_bytes"),
])
def test_errors_name_the_key(text, key):
    with pytest.raises(ConfigError) as err:
        parse(text)
    assert str(err.value).startswith(key), str(err.value)


def test_invalid_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse("[mqtt\nport=1")
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "absent.toml")


def test_password_comes_from_its_file_only(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    cfg = parse(f"[mqtt]\nuser = 'u'\npassword_file = '{secret}'")
    assert read_password(cfg.mqtt) == "s3cret"
    assert "s3cret" not in repr(cfg)
    assert read_password(Config().mqtt) is None
    with pytest.raises(ConfigError, match="mqtt.password_file"):
        read_password(parse(f"[mqtt]\npassword_file = '{tmp_path / 'none'}'").mqtt)


def test_the_cli_names_the_key_and_prints_loadable_defaults(tmp_path):
    from click.testing import CliRunner

    from edgecast.cli import main
    bad = tmp_path / "bad.toml"
    bad.write_text("[mqtt]\nport = 'x'\n")
    result = CliRunner().invoke(main, ["run", "--config", str(bad)])
    assert result.exit_code != 0 and "mqtt.port" in result.output
    printed = CliRunner().invoke(main, ["config", "print"])
    assert printed.exit_code == 0
    assert parse(printed.output) == Config()
    result = CliRunner().invoke(main, ["replay", "--data", "x.csv", "--speed", "fast"])
    assert result.exit_code != 0 and "--speed" in result.output


@pytest.mark.parametrize("text, key", [
    # control characters: a newline or ESC would forge log lines and are not valid in topics
    ('[station]\nid = "roof\\n1"', "station.id"),
    ('[station]\nid = "roof\\u001b[31m"', "station.id"),
    ('[station]\nid = "roof\\u0085"', "station.id"),  # C1 control (NEL)
    ('[station]\nid = "roof\\uffff"', "station.id"),  # non-character
    ('[station]\nid = "$SYS"', "station.id"),  # $-topics belong to the broker
    ('[station]\nid = ".."', "station.id"),  # also the state file's name
    ('[station]\nid = "{station}"', "station.id"),
    (f'[station]\nid = "{"x" * 65}"', "station.id"),
    ('[mqtt]\nclient_id = "box\\r7"', "mqtt.client_id"),
    ('[topics]\nforecast = "$SYS/{station}/forecast"', "topics.forecast"),
    ('[topics]\nstats = "edgecast/{station}/st\\tats"', "topics.stats"),
    (f'[topics]\nstatus = "{"s/" * 33000}{{station}}"', "topics.status"),
    ('[input]\ntopic = "$SYS/broker/#"', "input.topic"),
    ('[input]\ntopic = "tele/{station}/SENSOR\\u0007"', "input.topic"),
    ('[homeassistant]\nprefix = "$homeassistant"', "homeassistant.prefix"),
    ('[homeassistant]\nprefix = "home\\nassistant"', "homeassistant.prefix"),
    # templates are not Python's format language (attribute access, indexing,
    # format specs: "{station:>999999999}" took --check to 1 GB and a minute)
    ('[topics]\nforecast = "{station.__class__}"', "topics.forecast"),
    ('[topics]\nforecast = "{station.__class__.__mro__}"', "topics.forecast"),
    ('[topics]\nforecast = "e/{station:>999999999}"', "topics.forecast"),
    ('[topics]\nforecast = "e/{station:>9}"', "topics.forecast"),
    ('[topics]\nstats = "e/{station!r}"', "topics.stats"),
    ('[topics]\nstatus = "e/{station[0]}"', "topics.status"),
    ('[topics]\nreadings = "e/{0}"', "topics.readings"),
    ('[topics]\nreadings = "e/{}"', "topics.readings"),
    ('[topics]\nreadings = "e/{station"', "topics.readings"),
    ('[input]\ntopic = "tele/{station.__init__.__globals__}/SENSOR"', "input.topic"),
    ('[input]\ntopic = "tele/{station:x<70000}/SENSOR"', "input.topic"),
    # bidi overrides and invisible characters: a station id must read as what it is
    ('[station]\nid = "roof\u202egnp.exe"', "station.id"),
    ('[station]\nid = "ro\u200bof"', "station.id"),
    ('[station]\nid = "roof\u2028x"', "station.id"),
    ('[station]\nid = "\ufeffroof"', "station.id"),
    ('[topics]\nforecast = "e/{station}/\u2066x"', "topics.forecast"),
])
def test_ids_and_topics_are_hardened(text, key):
    with pytest.raises(ConfigError) as err:
        parse(text)
    assert str(err.value).startswith(key), str(err.value)


@pytest.mark.parametrize("sid", ["roof-1", "Dach Süd", "站点_7", "a$b", "x" * 64, ".hidden"])
def test_ordinary_station_ids_still_pass(sid):
    cfg = parse(f'[station]\nid = "{sid}"\n')
    assert cfg.topic("readings") == f"edgecast/{sid}/readings"


# --- several stations ([[stations]]) ---------------------------------------------------------
GATEWAY = """
[mqtt]
client_id = "gw"
[gaps]
carry_forward_hours = 2
[input]
format = "rtl_433"
[input.rtl433]
model = "Fineoffset-WH24"
[[stations]]
id = "roof"
input = { format = "native" }
[[stations]]
id = "garden"
input = { rtl433 = { id = "140" } }
gaps = { min_observed_fraction = 0.5 }
[[stations]]
id = "shed"
[stations.input.rtl433]
id = "141"
[stations.model]
path = "bme280"
"""


def test_stations_start_from_the_file_and_override_key_by_key():
    roof, garden, shed = parse(GATEWAY).station_configs()
    assert [s.station.id for s in (roof, garden, shed)] == ["roof", "garden", "shed"]
    assert (roof.input.format, garden.input.format, shed.input.format) == ("native", "rtl_433", "rtl_433")
    assert (garden.input.rtl433.model, garden.input.rtl433.id, shed.input.rtl433.id) == \
        ("Fineoffset-WH24", "140", "141")
    # an override replaces one key; the station keeps the file's others
    assert (garden.gaps.min_observed_fraction, garden.gaps.carry_forward_hours) == (0.5, 2)
    assert (roof.gaps.min_observed_fraction, roof.gaps.carry_forward_hours) == (0.75, 2)
    assert (shed.model.path, roof.model.path) == ("bme280", "")
    assert [s.topic("forecast") for s in (roof, garden, shed)] == \
        ["edgecast/roof/forecast", "edgecast/garden/forecast", "edgecast/shed/forecast"]
    # one MQTT connection per station (its own will and session): distinct client ids
    assert [s.client_id for s in (roof, garden, shed)] == ["gw-roof", "gw-garden", "gw-shed"]
    # a single [station] file is its own one station, client id untouched
    single = parse('[mqtt]\nclient_id = "gw"\n[station]\nid = "roof"\n')
    assert single.station_configs() == [single] and single.client_id == "gw"


@pytest.mark.parametrize("stations, message", [
    ('[[stations]]\nid = "a"\n[[stations]]\nid = "a"', "the id 'a' is used more than once"),
    ('[station]\nid = "x"\n[[stations]]\nid = "a"', "either one [station] or several [[stations]]"),
    ('[[stations]]\ninput = {format = "native"}', "stations[0]: needs an id"),
    ("stations = []", "expected one or more [[stations]] tables"),
    ('[[stations]]\nid = "a"\nmqtt = { port = 1884 }', "stations[0].mqtt: not a per-station setting"),
    ('[[stations]]\nid = "a"\nmodel = "x.tflite"', "stations[0].model: expected a table"),
    ('[[stations]]\nid = "a"\n[[stations]]\nid = "b/c"', "stations[1] ('b/c'): station.id"),
    ('[[stations]]\nid = "a"\ninput = { formt = "x" }', "stations[0].input.formt: unknown key"),
    ('[[stations]]\nid = "a"\ngaps = { carry_forward_hours = 500 }', "gaps.carry_forward_hours: must be 0..120"),
    # two stations must not publish to one topic ...
    ('[topics]\nforecast = "weather/forecast"\n[[stations]]\nid = "a"\n[[stations]]\nid = "b"',
     "'a' and 'b' would share the topic 'weather/forecast'"),
    # ... nor take the same sensor's readings: the same topic, or rtl_433 filters with a device in common
    ('[[stations]]\nid = "a"\ninput = { topic = "sensors/roof" }\n[[stations]]\nid = "b"\n'
     'input = { topic = "sensors/roof" }', "'a' and 'b' would both take readings from sensors/roof"),
    ('[input]\nformat = "rtl_433"\n[input.rtl433]\nmodel = "WH24"\n[[stations]]\nid = "a"\n[[stations]]\nid = "b"\n'
     'input = { rtl433 = { id = "7" } }', "would both take readings from rtl_433/+/events WH24 7 *"),
])
def test_station_list_errors_name_the_problem(stations, message):
    with pytest.raises(ConfigError) as err:
        parse(stations)
    assert message in str(err.value)


def test_distinct_rtl433_devices_on_one_receiver_are_fine():
    base = '[input]\nformat = "rtl_433"\n[input.rtl433]\nmodel = "WH24"\n'
    ok = parse(base + '[[stations]]\nid = "a"\ninput = { rtl433 = { id = "1" } }\n'
                      '[[stations]]\nid = "b"\ninput = { rtl433 = { id = "2" } }\n'
                      '[[stations]]\nid = "c"\ninput = { rtl433 = { model = "Acurite-Tower" } }\n')
    assert len(ok.station_configs()) == 3


@pytest.mark.parametrize("problem", ["missing", "directory"])
def test_an_unusable_password_file_fails_check_and_run_alike_without_a_traceback(tmp_path, problem):
    """Before: `run --check` said "configuration ok"; `run` died with a ConfigError traceback
    and systemd restarted it every 5 s."""
    import subprocess
    import sys
    pw = tmp_path / "pw"
    if problem == "directory":
        pw.mkdir()
    config = tmp_path / "edgecast.toml"
    config.write_text(f'[mqtt]\nport = 9\nuser = "u"\npassword_file = "{pw}"\n[state]\ndir = "{tmp_path}"\n'
                      f'[model]\npath = "{tmp_path / "none.tflite"}"\n')
    cmd = [sys.executable, "-m", "edgecast.cli"]
    outs = [subprocess.run(cmd + command + ["--config", str(config)], capture_output=True, text=True, timeout=60)
            for command in (["config", "check"], ["run"])]
    for out in outs:
        assert out.returncode != 0, out.stdout + out.stderr
        assert "Traceback" not in out.stderr and "configuration ok" not in out.stdout
        assert f"mqtt.password_file: cannot read {pw}" in out.stderr, out.stderr
    assert outs[0].stderr == outs[1].stderr  # the same clear line


def test_a_world_readable_password_file_is_warned_about(tmp_path):
    import subprocess
    import sys
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    pw.chmod(0o644)
    config = tmp_path / "edgecast.toml"
    config.write_text(f'[mqtt]\nuser = "u"\npassword_file = "{pw}"\n[state]\ndir = "{tmp_path}"\n'
                      '[model]\npath = "default"\n')
    out = subprocess.run([sys.executable, "-m", "edgecast.cli", "run", "--config", str(config), "--check"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "configuration ok" in out.stdout
    assert f"mqtt.password_file: {pw} is readable by every user" in out.stderr and "s3cret" not in out.stderr
    pw.chmod(0o600)
    out = subprocess.run([sys.executable, "-m", "edgecast.cli", "run", "--config", str(config), "--check"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "readable by every user" not in out.stderr


# --- each input format's own table ------------------------------------------------------------
def test_flat_input_keys_of_earlier_versions_get_their_new_spelling():
    """A file with the flat keys (rtl433_model …) is refused with exactly its lines, rewritten
    in their tables, ready to paste; the keys its format never read are named to drop."""
    old = '[input]\nformat = "rtl_433"\nrtl433_model = "Fineoffset-WH24"\nrtl433_id = "140"\ntimezone = "UTC"\n'
    with pytest.raises(ConfigError) as err:
        parse(old)
    text = str(err.value)
    assert text.startswith("input: each input format has its own table now; replace\n")
    new = text.split("\nby\n")[1].split("\n(docs")[0]
    assert new.split("\n") == ['    [input.rtl433]', '    model = "Fineoffset-WH24"', '    id = "140"',
                               '    timezone = "UTC"']
    fixed = '[input]\nformat = "rtl_433"\n' + "\n".join(line.strip() for line in new.split("\n")) + "\n"
    assert parse(fixed).input.rtl433.id == "140"
    with pytest.raises(ConfigError, match=r"(?s)replace\n    tasmota_sensor = \"BME280\"\nand drop, with format = "
                                          r"'native': tasmota_sensor \(read by 'tasmota' only\)"):
        parse('[input]\ntasmota_sensor = "BME280"\n')
    with pytest.raises(ConfigError, match=r"(?s)^stations\[0\]\.input: .*\[stations\.input\.rtl433\]\n    id = \"7\""):
        parse('[input]\nformat = "rtl_433"\n[input.rtl433]\nmodel = "M"\n[[stations]]\nid = "a"\n'
              'input = { rtl433_id = "7" }\n')


@pytest.mark.parametrize("text, message", [
    ('[input.rtl433]\nmodel = "WH24"\n', r"^input\.rtl433: read with format = 'rtl_433' only, and the format "
                                          r"here is 'native'"),
    ('[input]\nformat = "tasmota"\n[input.tasmota]\nmodel = "WH24"\n',
     r"^input\.tasmota\.model: unknown key: a key of \[input\.rtl433\] \(format = 'rtl_433'\)"),
    ('[input]\nsensor = "BME280"\n', r"^input\.sensor: unknown key: a key of \[input\.tasmota\]"),
    ('[[stations]]\nid = "a"\ninput = { format = "native", esphome = { max_age_seconds = 60 } }\n',
     r"^stations\[0\]\.input\.esphome: read with format = 'esphome' only"),
])
def test_keys_of_another_format_name_the_right_table(text, message):
    with pytest.raises(ConfigError, match=message):
        parse(text)


def test_a_gateway_file_may_hold_the_tables_of_the_formats_its_stations_read():
    cfg = parse('[input.rtl433]\nmodel = "WH24"\n[[stations]]\nid = "a"\n[[stations]]\nid = "b"\n'
                'input = { format = "rtl_433" }\n')
    a, b = cfg.station_configs()
    assert (a.input.format, b.input.format, b.input.rtl433.model) == ("native", "rtl_433", "WH24")
