"""A Release collector on a free 127.0.0.1 port over a temporary data directory, for the bench scripts."""
import contextlib, os, shutil, socket, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DLL = os.path.join(ROOT, "src/Hotpath.Collector/bin/Release/net10.0/Hotpath.Collector.dll")


@contextlib.contextmanager
def local_collector(dll=DLL, prefix="hotpath-bench-"):
    """Yields (base URL, process) once /healthz answers (30 s at most); stops it and removes its data after."""
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    data = tempfile.mkdtemp(prefix=prefix)
    collector = subprocess.Popen(["dotnet", dll, f"--Collector:Address=127.0.0.1:{port}", f"--Storage:DataDirectory={data}",
                                  "--Logging:LogLevel:Default=Warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2).read()
                break
            except OSError:
                if time.time() > deadline:
                    sys.exit("collector did not start")
                time.sleep(0.2)
        yield base, collector
    finally:
        collector.terminate()
        try:
            collector.wait(timeout=30)
        except subprocess.TimeoutExpired:
            collector.kill()
        shutil.rmtree(data, ignore_errors=True)
