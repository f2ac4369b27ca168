"""What the kiosk reports about itself: devices, CPU, network and the host's faults."""

from __future__ import annotations

from pathlib import Path

from kiosk_client.telemetry import CpuMeter, device_health, network_info, read_faults
from media import DeviceUnavailable, open_media


async def test_synthetic_devices_are_present_and_working() -> None:
    source = open_media("synthetic")
    try:
        camera, microphone = device_health("synthetic", source, {}, ("/dev/video0", "default"))
    finally:
        await source.close()
    assert (camera.present, camera.working, microphone.present, microphone.working) == (True,) * 4


def test_a_camera_that_did_not_open_is_reported_missing_and_not_working(tmp_path: Path) -> None:
    missing = str(tmp_path / "video9")
    failures = {"video": DeviceUnavailable("video", missing, "no such device")}
    camera, microphone = device_health("device", None, failures, (missing, "default"))
    assert (camera.present, camera.working, camera.detail) == (False, False, "no such device")
    # the microphone opened (it is not among the failures) but there is no source to deliver from
    assert (microphone.present, microphone.working) == (True, False)


def test_a_camera_node_that_exists_but_fails_is_present_and_not_working(tmp_path: Path) -> None:
    node = tmp_path / "video0"
    node.write_bytes(b"")
    failures = {"video": DeviceUnavailable("video", str(node), "not a capture device")}
    camera, _ = device_health("device", None, failures, (str(node), "default"))
    assert (camera.present, camera.working) == (True, False)


def test_host_faults_are_read_one_a_line_without_blanks_or_comments(tmp_path: Path) -> None:
    faults = tmp_path / "faults"
    assert read_faults(None) == []
    assert read_faults(faults) == []  # the host wrote none
    faults.write_text("cash dispenser jammed\n\n# written by the ATM host\n  receipt paper low  \n")
    assert read_faults(faults) == ["cash dispenser jammed", "receipt paper low"]


def test_host_faults_are_capped_in_number_and_length(tmp_path: Path) -> None:
    faults = tmp_path / "faults"
    faults.write_text("\n".join(["x" * 500] + [f"fault {n}" for n in range(30)]))
    read = read_faults(faults)
    assert len(read) == 16
    assert len(read[0]) == 200


def test_cpu_use_is_measured_between_two_samples(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3 4\n")
    meter = CpuMeter(stat)
    stat.write_text("cpu  200 0 200 1400 0 0 0 0 0 0\n")  # 200 busy of 800 ticks
    assert meter.sample() == 25.0
    assert meter.sample() is None  # no time passed


def test_cpu_is_omitted_where_it_cannot_be_read(tmp_path: Path) -> None:
    assert CpuMeter(tmp_path / "absent").sample() is None


def test_the_network_is_the_kind_of_the_default_routes_interface(tmp_path: Path) -> None:
    route = tmp_path / "route"
    route.write_text(
        "Iface\tDestination\tGateway\n"
        "wlan0\t0000A8C0\t00000000\n"  # a local network: not the default route
        "wlan0\t00000000\t0100A8C0\n"
    )
    sys_net = tmp_path / "net"
    (sys_net / "wlan0" / "wireless").mkdir(parents=True)
    info = network_info(route, sys_net)
    assert info is not None
    assert (info.kind, info.interface) == ("wifi", "wlan0")

    (sys_net / "eth0").mkdir()
    (sys_net / "eth0" / "type").write_text("1\n")
    route.write_text("Iface\tDestination\teth0\neth0\t00000000\t0100A8C0\n")
    assert network_info(route, sys_net) == type(info)(kind="ethernet", interface="eth0")


def test_no_default_route_means_no_network_reported(tmp_path: Path) -> None:
    route = tmp_path / "route"
    route.write_text("Iface\tDestination\tGateway\n")
    assert network_info(route, tmp_path) is None
    assert network_info(tmp_path / "absent", tmp_path) is None
