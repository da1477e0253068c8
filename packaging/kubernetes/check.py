#!/usr/bin/env python3
"""Checks the essentials of the Kubernetes manifests beside this file: that
they parse, that the Service is headless on port 3632 with a named port
(for the SRV record), and that the Deployment keeps the promises the README
makes (non-root, probes (readiness by `distcc --probe`), resources, a grace
period that covers the daemon's drain, an --allow list). Needs PyYAML (Debian: python3-yaml).
Exits 1 with the failed checks listed."""

import pathlib
import sys

import yaml

HERE = pathlib.Path(__file__).resolve().parent
# The daemon's drain bound after SIGTERM and its clean-up after that, in
# seconds (the daemon's DRAIN_TIMEOUT and CANCEL_GRACE).
DRAIN, CANCEL = 60, 10

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


def load(name):
    docs = [d for d in yaml.safe_load_all((HERE / name).read_text()) if d]
    check(len(docs) == 1, f"{name}: one object")
    return docs[0]


svc = load("service.yaml")
dep = load("deployment.yaml")
kust = load("kustomization.yaml")

check(svc["kind"] == "Service", "service.yaml is a Service")
check(svc["spec"].get("clusterIP") == "None", "the Service is headless (clusterIP: None)")
ports = svc["spec"]["ports"]
check([p["port"] for p in ports] == [3632], "the Service's port is 3632")
check(ports[0].get("name") == "distcc", "the port is named distcc (SRV _distcc._tcp)")
check(not svc["spec"].get("publishNotReadyAddresses", False), "not-ready pods stay out of DNS")

check(dep["kind"] == "Deployment", "deployment.yaml is a Deployment")
labels = dep["spec"]["template"]["metadata"]["labels"]
check(all(labels.get(k) == v for k, v in svc["spec"]["selector"].items()), "the Service selects the pods")
pod = dep["spec"]["template"]["spec"]
(c,) = pod["containers"]
args = c.get("args", [])
check(any(a.startswith("--allow=") for a in args), "the daemon has an --allow list")
check(any(p["containerPort"] == 3632 and p.get("name") == "distcc" for p in c["ports"]), "container port 3632 named distcc")
probe = c.get("readinessProbe", {}).get("exec", {}).get("command", [])
check(probe[1:2] == ["--probe"] and probe[0].endswith("distcc"), "an exec readiness probe: distcc --probe")
probed = probe[2] if len(probe) > 2 else ""
check(probed.startswith("127.0.0.1:"), "the probe asks the pod's own daemon on loopback")
check("--allow=127.0.0.1/32" in args, "the daemon answers the probe's loopback query (--allow)")
res = c.get("resources", {})
check("cpu" in res.get("requests", {}) and "cpu" in res.get("limits", {}), "CPU requests and limits")
check("memory" in res.get("requests", {}) and "memory" in res.get("limits", {}), "memory requests and limits")
pause = 0
pre = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
if pre[:1] == ["sleep"]:
    pause = int(pre[1])
grace = pod.get("terminationGracePeriodSeconds", 30)
check(grace > pause + DRAIN + CANCEL, f"grace {grace} s > preStop {pause} + drain {DRAIN} + clean-up {CANCEL}")
psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
check(psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) != 0, "runs as non-root")
check(csc.get("allowPrivilegeEscalation") is False, "no privilege escalation")
check(csc.get("capabilities", {}).get("drop") == ["ALL"], "all capabilities dropped")
check(sorted(kust.get("resources", [])) == ["deployment.yaml", "service.yaml"], "kustomization lists both")

for f in failures:
    print(f"FAILED: {f}")
print("ok" if not failures else f"{len(failures)} check(s) failed")
sys.exit(1 if failures else 0)
