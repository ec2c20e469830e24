"""A USB bus with a receipt printer on it, behind pyusb's backend interface (`usb.backend.IBackend`).

There is no USB bus on a build machine or in CI (no /dev/bus/usb, no dummy_hcd), so the till's USB
printing is tested one layer down: this backend is handed to pyusb (`usb.core.find(backend=...)`, which
python-escpos' `Usb(usb_args={"backend": ...})` passes through), and the real pyusb Device, its
descriptor parsing, interface claiming and endpoint lookup, and escpos' real Usb class run above it.
What stays untested is libusb and the kernel (permissions, a kernel driver holding the interface).

The printer answers like a bidirectional USB printer (class 7, protocol 2): bulk OUT 0x01 takes
ESC/POS, decoded page by page (`hw_sim.escpos_decode`); DLE EOT n queries are answered on bulk IN
0x82 with the status bytes of a `PrinterSim` (switch it with `sim.status.paper_out()` and so on).
Other devices on the bus (a HID scanner) show that discovery picks printers out, not everything.
"""

from __future__ import annotations

import array
import errno
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import usb.backend
import usb.core

from hw_sim.escpos_decode import Decoder, Page, code_page_table
from hw_sim.printer import PrinterSim

GET_DESCRIPTOR, DESC_STRING = 6, 3
LANG_EN_US = 0x0409
BULK = 0x02


@dataclass
class _Desc:
    """A descriptor as pyusb wants it: fields as attributes (values read with int())."""

    fields: dict[str, object]

    def __getattr__(self, name: str) -> object:
        try:
            return self.__dict__["fields"][name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class SimUsbDevice:
    """One device on the simulated bus: ids, strings, one configuration with one interface."""

    vid: int
    pid: int
    manufacturer: str = ""
    product: str = ""
    serial_number: str = ""
    interface_class: int = 7  # 7 printer; 3 HID (a keyboard-wedge scanner)
    interface_protocol: int = 2  # printer: 1 unidirectional, 2 bidirectional
    in_ep: int = 0x82
    out_ep: int = 0x01
    bus: int = 1
    address: int = 2
    opened: int = 0
    claimed: set[int] = field(default_factory=set)

    @property
    def strings(self) -> list[str]:
        return [self.manufacturer, self.product, self.serial_number]

    def device_descriptor(self) -> _Desc:
        return _Desc({"bLength": 18, "bDescriptorType": 1, "bcdUSB": 0x0200, "bDeviceClass": 0,
                      "bDeviceSubClass": 0, "bDeviceProtocol": 0, "bMaxPacketSize0": 64, "idVendor": self.vid,
                      "idProduct": self.pid, "bcdDevice": 0x0100, "iManufacturer": 1 if self.manufacturer else 0,
                      "iProduct": 2 if self.product else 0, "iSerialNumber": 3 if self.serial_number else 0,
                      "bNumConfigurations": 1, "address": self.address, "bus": self.bus, "port_number": 1,
                      "port_numbers": (1,), "speed": 2})

    def config_descriptor(self) -> _Desc:
        return _Desc({"bLength": 9, "bDescriptorType": 2, "wTotalLength": 32, "bNumInterfaces": 1,
                      "bConfigurationValue": 1, "iConfiguration": 0, "bmAttributes": 0xC0, "bMaxPower": 50,
                      "extra_descriptors": []})

    def interface_descriptor(self) -> _Desc:
        return _Desc({"bLength": 9, "bDescriptorType": 4, "bInterfaceNumber": 0, "bAlternateSetting": 0,
                      "bNumEndpoints": 2, "bInterfaceClass": self.interface_class, "bInterfaceSubClass": 1,
                      "bInterfaceProtocol": self.interface_protocol, "iInterface": 0, "extra_descriptors": []})

    def endpoint_descriptor(self, index: int) -> _Desc:
        address = (self.out_ep, self.in_ep)[index]
        return _Desc({"bLength": 7, "bDescriptorType": 5, "bEndpointAddress": address, "bmAttributes": BULK,
                      "wMaxPacketSize": 64, "bInterval": 0, "bRefresh": 0, "bSynchAddress": 0,
                      "extra_descriptors": []})

    def bulk_write(self, ep: int, data: bytes) -> int:
        raise usb.core.USBError("Pipe error", -9, errno.EPIPE)

    def bulk_read(self, ep: int, size: int, timeout_ms: int) -> bytes:
        raise usb.core.USBError("Pipe error", -9, errno.EPIPE)


class SimUsbPrinter(SimUsbDevice):
    """The printer: ESC/POS in, pages out (`pages`, `texts`), status bytes back on the IN endpoint."""

    def __init__(self, vid: int = 0x04B8, pid: int = 0x0E28, *, manufacturer: str = "EPSON",
                 product: str = "TM-T20III", serial_number: str = "X7RB000123", profile: str = "TM-T88V",
                 **kw: object) -> None:
        super().__init__(vid, pid, manufacturer, product, serial_number, **kw)  # type: ignore[arg-type]
        self.status = PrinterSim(port=0, profile=profile, png=False)  # never started: its status bytes only
        self.received = bytearray()
        self.pages: list[Page] = []
        self._replies = bytearray()
        self._ready = threading.Condition()
        self._decoder = Decoder(code_page_table(profile), on_status=self.status.status_byte,
                                respond=self._respond, on_page=self.pages.append)

    @property
    def texts(self) -> list[str]:
        return [page.text(self.status.columns) for page in self.pages]

    def _respond(self, data: bytes) -> None:
        if self.interface_protocol == 1:  # a unidirectional printer: it never answers a status request
            return
        with self._ready:
            self._replies += data
            self._ready.notify_all()

    def bulk_write(self, ep: int, data: bytes) -> int:
        if ep != self.out_ep:
            return super().bulk_write(ep, data)
        self.received += data
        self._decoder.feed(bytes(data))
        return len(data)

    def bulk_read(self, ep: int, size: int, timeout_ms: int) -> bytes:
        if ep != self.in_ep:
            return super().bulk_read(ep, size, timeout_ms)
        deadline = time.monotonic() + (timeout_ms or 1000) / 1000
        with self._ready:
            while not self._replies:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise usb.core.USBTimeoutError("Operation timed out", -7, errno.ETIMEDOUT)
                self._ready.wait(left)
            out = bytes(self._replies[:size])
            del self._replies[:size]
        return out


class SimUsbBus(usb.backend.IBackend):
    """pyusb's backend interface over a list of simulated devices (the device id is the object itself)."""

    def __init__(self, *devices: SimUsbDevice) -> None:
        super().__init__()
        self.devices = list(devices)

    def enumerate_devices(self) -> Iterator[SimUsbDevice]:
        return iter(list(self.devices))

    def get_parent(self, dev: SimUsbDevice) -> None:
        return None

    def get_device_descriptor(self, dev: SimUsbDevice) -> _Desc:
        return dev.device_descriptor()

    def get_configuration_descriptor(self, dev: SimUsbDevice, config: int) -> _Desc:
        if config != 0:
            raise IndexError(config)
        return dev.config_descriptor()

    def get_interface_descriptor(self, dev: SimUsbDevice, intf: int, alt: int, config: int) -> _Desc:
        if (intf, alt, config) != (0, 0, 0):
            raise IndexError(intf)
        return dev.interface_descriptor()

    def get_endpoint_descriptor(self, dev: SimUsbDevice, ep: int, intf: int, alt: int, config: int) -> _Desc:
        if ep not in (0, 1):
            raise IndexError(ep)
        return dev.endpoint_descriptor(ep)

    def open_device(self, dev: SimUsbDevice) -> SimUsbDevice:
        if dev not in self.devices:
            raise usb.core.USBError("No such device (it may have been disconnected)", -4, errno.ENODEV)
        dev.opened += 1
        return dev

    def close_device(self, dev_handle: SimUsbDevice) -> None:
        dev_handle.opened -= 1

    def set_configuration(self, dev_handle: SimUsbDevice, config_value: int) -> None:
        if config_value != 1:
            raise usb.core.USBError("Invalid parameter", -2, errno.EINVAL)

    def get_configuration(self, dev_handle: SimUsbDevice) -> int:
        return 1

    def claim_interface(self, dev_handle: SimUsbDevice, intf: int) -> None:
        dev_handle.claimed.add(intf)

    def release_interface(self, dev_handle: SimUsbDevice, intf: int) -> None:
        dev_handle.claimed.discard(intf)

    def reset_device(self, dev_handle: SimUsbDevice) -> None:
        return None

    def clear_halt(self, dev_handle: SimUsbDevice, ep: int) -> None:
        return None

    def bulk_write(self, dev_handle: SimUsbDevice, ep: int, intf: int, data: array.array, timeout: int) -> int:
        self._check(dev_handle, intf)
        return dev_handle.bulk_write(ep, bytes(data))

    def bulk_read(self, dev_handle: SimUsbDevice, ep: int, intf: int, buff: array.array, timeout: int) -> int:
        self._check(dev_handle, intf)
        data = dev_handle.bulk_read(ep, len(buff), timeout)
        buff[:len(data)] = array.array("B", data)
        return len(data)

    def ctrl_transfer(self, dev_handle: SimUsbDevice, bmRequestType: int, bRequest: int, wValue: int,
                      wIndex: int, data: array.array, timeout: int) -> int:
        """GET_DESCRIPTOR for strings only (what pyusb's get_string asks); anything else stalls."""
        if bmRequestType != 0x80 or bRequest != GET_DESCRIPTOR or wValue >> 8 != DESC_STRING:
            raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
        index = wValue & 0xFF
        if index == 0:
            body = LANG_EN_US.to_bytes(2, "little")
        elif index <= len(dev_handle.strings) and dev_handle.strings[index - 1]:
            body = dev_handle.strings[index - 1].encode("utf-16-le")
        else:
            raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
        desc = bytes([len(body) + 2, DESC_STRING]) + body
        n = min(len(desc), len(data))
        data[:n] = array.array("B", desc[:n])
        return n

    def _check(self, dev: SimUsbDevice, intf: int) -> None:
        if dev not in self.devices:
            raise usb.core.USBError("No such device (it may have been disconnected)", -4, errno.ENODEV)
        if intf not in dev.claimed:
            raise usb.core.USBError("Resource busy (interface not claimed)", -6, errno.EBUSY)

    def unplug(self, dev: SimUsbDevice) -> None:
        """Take a device off the bus: its next transfer fails as with a pulled cable."""
        self.devices.remove(dev)
