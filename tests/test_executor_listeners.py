"""Pure parts of the executor listeners: address choice, the daemon's CA, bootstraps, settings."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509

from stratos.errors import InvalidJobSpec
from stratosd import daemon_settings, tls
from stratosd.enroll import Enrollment
from stratosd.listeners import is_loopback, mesos_endpoint, route_address, slurm_controller


def test_the_route_to_a_loopback_master_starts_at_a_loopback_address() -> None:
    assert route_address("127.0.0.1", 5050) == "127.0.0.1"
    assert is_loopback(route_address("localhost", 5050))
    assert not is_loopback("10.1.2.3") and is_loopback("::1")


def test_mesos_master_forms_give_host_and_port() -> None:
    assert mesos_endpoint("foam:5050") == ("foam", 5050)
    assert mesos_endpoint("http://10.0.0.5:5051/") == ("10.0.0.5", 5051)
    assert mesos_endpoint("https://m.example") == ("m.example", 443)
    assert mesos_endpoint("m1") == ("m1", 5050)


def test_the_slurm_controller_is_read_from_scontrol_show_config() -> None:
    text = "ClusterName = c\nSlurmctldHost[0]        = ctl1(10.0.0.9)\nSlurmctldPort = 6820-6824\n"
    assert slurm_controller(text) == ("10.0.0.9", 6820)
    assert slurm_controller("SlurmctldHost[0] = localhost\n") == ("localhost", 6817)
    with pytest.raises(ValueError, match="SlurmctldHost"):
        slurm_controller("ClusterName = c\n")


def test_the_daemon_ca_signs_a_certificate_covering_its_addresses_with_private_files(tmp_path: Path) -> None:
    made = tls.server_tls(tmp_path, {"127.0.0.1", "login1.example"})
    ca = x509.load_pem_x509_certificate(made.ca_pem)
    cert = x509.load_pem_x509_certificate(made.cert_pem)
    cert.verify_directly_issued_by(ca)
    assert tls.sans_of(made.cert_pem) == {"127.0.0.1", "login1.example"}
    for name in ("ca.key", "ca.pem", "server.key", "server.pem"):
        assert stat.S_IMODE((tmp_path / "tls" / name).stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "tls").stat().st_mode) == 0o700
    again = tls.server_tls(tmp_path, {"127.0.0.1"})  # covered: the same certificate
    assert again.cert_pem == made.cert_pem and again.ca_pem == made.ca_pem
    grown = tls.server_tls(tmp_path, {"10.0.0.7"})  # a new address: reissued, same CA, old names kept
    assert tls.sans_of(grown.cert_pem) == {"127.0.0.1", "login1.example", "10.0.0.7"}
    assert grown.ca_pem == made.ca_pem


def test_a_bootstrap_is_spent_once_and_gives_a_credential_for_one_executor(tmp_path: Path) -> None:
    enrollment = Enrollment(tmp_path)
    bound = enrollment.bootstrap("job-token", "stratos.1.0.1")
    assert enrollment.redeem("job-token", "stratos.1.0.2", bound) is None  # another executor id
    assert enrollment.redeem("other-token", "stratos.1.0.1", bound) is None  # another job
    credential = enrollment.redeem("job-token", "stratos.1.0.1", bound)
    assert credential and "job-token" not in credential
    assert enrollment.redeem("job-token", "stratos.1.0.1", bound) is None  # spent
    assert enrollment.valid_credential("job-token", "stratos.1.0.1", credential)
    assert not enrollment.valid_credential("job-token", "stratos.1.0.2", credential)
    loose = enrollment.bootstrap("job-token")  # a Slurm pilot's: any executor id, once
    restarted = Enrollment(tmp_path)  # the same key and spent list after a daemon restart
    assert restarted.redeem("job-token", "stratos.1.0.1", bound) is None
    assert restarted.valid_credential("job-token", "stratos.1.0.1", credential)
    assert restarted.redeem("job-token", "slurm-42", loose) == restarted.credential("job-token", "slurm-42")
    assert restarted.redeem("job-token", "slurm-43", loose) is None
    assert stat.S_IMODE((tmp_path / "executor-key").stat().st_mode) == 0o600


def test_daemon_settings_come_from_the_stratosd_table_and_are_checked() -> None:
    assert daemon_settings.parse({"stratos": {"master": "x"}}) == {}
    got = daemon_settings.parse({"stratosd": {"executor_listen": "0.0.0.0:7070", "advertise": "login1",
                                              "executor_tls": False}})
    assert got == {"executor_listen": "0.0.0.0:7070", "advertise": "login1", "executor_tls": "off"}
    with pytest.raises(InvalidJobSpec, match=r"executor_listen must be HOST:PORT.*'lstn' is not"):
        daemon_settings.parse({"stratosd": {"executor_listen": "7070", "lstn": 1}})


def test_the_client_settings_ignore_the_daemons_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stratos import Settings

    file = tmp_path / "config.toml"
    file.write_text('[stratos]\nmaster = "slurm"\n[stratosd]\nexecutor_listen = "0.0.0.0:7070"\n')
    monkeypatch.setenv("STRATOS_CONFIG", str(file))
    assert Settings.load().master == "slurm"
    assert daemon_settings.load() == {"executor_listen": "0.0.0.0:7070"}
