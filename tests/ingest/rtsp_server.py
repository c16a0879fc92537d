"""A tiny RTSP server on loopback for tests: GStreamer's RTSP server serving a live MJPEG test pattern.

Run with the *system* python3 (it imports ``gi``; the project's .venv cannot)::

    /usr/bin/python3 tests/ingest/rtsp_server.py --port 8554 --path /cam

It prints ``ready rtsp://127.0.0.1:PORT/PATH`` once the port is bound (exits 2 when it cannot
bind) and quits when its stdin closes, so a test that dies does not leave it behind.
``--check`` only says whether it can run (exit 0) or what is missing (exit 3, on stderr); the test's
skip and ``scripts/test``'s install step both use it. Debian packages (what scripts/test installs):
python3-gi, gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-base (videotestsrc, videoconvert,
jpegenc's input) and gstreamer1.0-plugins-good (jpegenc, rtpjpegpay, the RTP/UDP elements).
"""

import argparse
import sys

PACKAGES = ("python3-gi", "gir1.2-gst-rtsp-server-1.0", "gstreamer1.0-plugins-base",
            "gstreamer1.0-plugins-good")
ELEMENTS = ("videotestsrc", "videoconvert", "jpegenc", "rtpjpegpay", "rtpbin", "udpsink")


def missing() -> str:
    """'' when GStreamer's RTSP server and the pipeline's elements are all there, else what is not."""
    try:
        import gi
        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import Gst, GstRtspServer  # noqa: F401
    except (ImportError, ValueError) as exc:
        return f"GStreamer RTSP server bindings: {exc}"
    Gst.init(None)
    absent = [e for e in ELEMENTS if Gst.ElementFactory.find(e) is None]
    return f"GStreamer elements {' '.join(absent)}" if absent else ""


def serve(port: int, path: str, width: int, height: int, fps: int) -> int:
    from gi.repository import GLib, GstRtspServer

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    factory = GstRtspServer.RTSPMediaFactory()
    # rtpjpegpay only packs 4:2:0 JPEG (RFC 2435), hence format=I420 before jpegenc.
    factory.set_launch(
        f"( videotestsrc is-live=true pattern=ball ! video/x-raw,width={width},height={height},"
        f"framerate={fps}/1 ! videoconvert ! video/x-raw,format=I420 ! jpegenc quality=70 "
        f"! rtpjpegpay name=pay0 pt=26 )")
    factory.set_shared(True)
    server.get_mount_points().add_factory(path, factory)
    if server.attach(None) == 0:
        print(f"cannot bind 127.0.0.1:{port}", file=sys.stderr, flush=True)
        return 2
    loop = GLib.MainLoop()

    def on_stdin(_fd, _condition):
        if not sys.stdin.buffer.read1(4096):
            loop.quit()
            return False
        return True

    GLib.io_add_watch(sys.stdin.fileno(), GLib.IO_IN | GLib.IO_HUP, on_stdin)
    print(f"ready rtsp://127.0.0.1:{port}{path}", flush=True)
    loop.run()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that it can run")
    parser.add_argument("--port", type=int)
    parser.add_argument("--path", default="/cam")
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--height", type=int, default=120)
    parser.add_argument("--fps", type=int, default=15)
    args = parser.parse_args()
    absent = missing()
    if absent:
        print(f"missing {absent} (Debian packages: {' '.join(PACKAGES)})", file=sys.stderr,
              flush=True)
        return 3
    if args.check:
        return 0
    if args.port is None:
        parser.error("--port is required")
    return serve(args.port, args.path, args.width, args.height, args.fps)


if __name__ == "__main__":
    sys.exit(main())
