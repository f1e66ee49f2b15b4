"""Gunicorn configuration of the console's web process (systemd: crisis-console.service).

    gunicorn -c deploy/gunicorn.conf.py 'app:create_app()'

One worker process with threads: the in-memory spatial index of the territory (a few hundred MB for
a département) is held once, and SQLite in WAL mode serves many readers and one writer at a time.
The scheduler runs in its own process (crisis-console-scheduler.service), never in this one
(CRISIS_SCHEDULER=0 in the environment file). Every value can be overridden by a GUNICORN_* or
CRISIS_* variable below; keep them in /etc/crisis-console/env.
"""

import os

# nginx proxies to this address; never expose gunicorn directly.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")

# One process: the index is held once. Do not raise it without shared limiter storage
# (CRISIS_RATELIMIT_STORAGE=redis://…) and the memory for one index per worker.
workers = 1
worker_class = "gthread"
threads = int(os.environ.get("CRISIS_THREADS", "8"))

# A situation report with a map takes a few seconds; an import of a large dataset longer.
# The worker is killed and restarted by the arbiter after `timeout` seconds without a heartbeat.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 30  # systemctl stop/restart: let running requests finish
keepalive = 5  # nginx keeps upstream connections alive (see the nginx site)

# The app is loaded in the worker, after the fork: no SQLite connection crosses a fork. A broken
# configuration still stops start-up ("Worker failed to boot", exit 3) rather than looping.
preload_app = False

# Recycling bounds slow leaks; with one worker a restart is a short pause, hence the jitter and
# a large number.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "20000"))
max_requests_jitter = 2000

# Uploads up to CRISIS_MAX_UPLOAD_MB are buffered by nginx, not held by gunicorn threads.
limit_request_line = 8190
limit_request_fields = 100

# Trust X-Forwarded-* only from nginx on loopback; the app's ProxyFix (CRISIS_PROXIES=1) reads them.
forwarded_allow_ips = "127.0.0.1,::1"

# Logs to stdout/stderr: systemd's journal keeps them (journalctl -u crisis-console).
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
capture_output = True
proc_name = "crisis-console"

# /dev/shm for the worker heartbeat: a slow disk must not make the arbiter kill a busy worker.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
