#!/usr/bin/env python3
"""What the Kubernetes schemas cannot check in deploy/kubernetes/ (tests/k8s/validate.sh).

    policy.py SLUICE_BINARY PATH...     (files or directories of manifests)

Each rule that fails prints one line naming the manifest and what to fix;
exit 1 if any did.
"""
import os
import re
import subprocess
import sys
import tempfile

import yaml


def load(paths):
    docs = []
    for p in paths:
        files = sorted(os.path.join(p, f) for f in os.listdir(p)) if os.path.isdir(p) else [p]
        for f in files:
            if not f.endswith(('.yaml', '.yml')):
                continue
            for d in yaml.safe_load_all(open(f)):
                if d and d.get('kind') != 'Kustomization':
                    docs.append((os.path.basename(f), d))
    return docs


def main():
    sluice, paths = sys.argv[1], sys.argv[2:]
    docs = load(paths)
    errors = []
    by_kind = {}
    for f, d in docs:
        by_kind.setdefault(d['kind'], []).append((f, d))

    def err(f, d, msg):
        errors.append(f"{f}: {d['kind']} {d['metadata']['name']}: {msg}")

    configmaps = {d['metadata']['name']: d for _, d in by_kind.get('ConfigMap', [])}
    secrets = {d['metadata']['name']: d for _, d in by_kind.get('Secret', [])}
    deployments = by_kind.get('Deployment', [])
    if not deployments:
        errors.append('no Deployment')
    for f, d in deployments:
        spec = d['spec']
        tmpl = spec['template']
        labels = tmpl['metadata'].get('labels', {})
        sel = spec['selector'].get('matchLabels', {})
        if not sel or any(labels.get(k) != v for k, v in sel.items()):
            err(f, d, f'selector {sel} does not match the pod labels {labels}')
        if spec.get('replicas') != 2:
            err(f, d, 'replicas must be 2: the active instance and a standby')
        pod = tmpl['spec']
        psc = pod.get('securityContext', {})
        if psc.get('runAsNonRoot') is not True:
            err(f, d, 'the pod needs securityContext.runAsNonRoot: true')
        volumes = {v['name']: v for v in pod.get('volumes', [])}
        grace = pod.get('terminationGracePeriodSeconds', 30)
        ann = tmpl['metadata'].get('annotations', {})
        for c in pod['containers']:
            where = f"container {c['name']}"
            args = c.get('args', [])
            standby_arg = '--standby' in args
            ports = {p.get('name'): p['containerPort'] for p in c.get('ports', [])}
            for probe in ('readinessProbe', 'livenessProbe'):
                pr = c.get(probe)
                if not pr or 'httpGet' not in pr:
                    err(f, d, f'{where}: no {probe} over HTTP')
                    continue
                port = pr['httpGet']['port']
                if port not in ports and port not in ports.values():
                    err(f, d, f'{where}: {probe} uses port {port!r}, which the container does not declare')
            if c.get('readinessProbe', {}).get('httpGet', {}).get('path') != '/healthz':
                err(f, d, f'{where}: readinessProbe must be /healthz')
            res = c.get('resources', {})
            for k in ('cpu', 'memory'):
                if k not in res.get('requests', {}):
                    err(f, d, f'{where}: no resources.requests.{k}')
            if 'memory' not in res.get('limits', {}):
                err(f, d, f'{where}: no resources.limits.memory')
            sc = c.get('securityContext', {})
            if sc.get('readOnlyRootFilesystem') is not True:
                err(f, d, f'{where}: securityContext.readOnlyRootFilesystem must be true')
            if sc.get('allowPrivilegeEscalation') is not False:
                err(f, d, f'{where}: securityContext.allowPrivilegeEscalation must be false')
            if 'ALL' not in sc.get('capabilities', {}).get('drop', []):
                err(f, d, f'{where}: securityContext.capabilities.drop must hold ALL')
            env = {}
            for e in c.get('env', []):
                ref = e.get('valueFrom', {}).get('secretKeyRef')
                env[e['name']] = 'x'
                if ref and ref['name'] in secrets:
                    data = {**secrets[ref['name']].get('data', {}), **secrets[ref['name']].get('stringData', {})}
                    if ref['key'] not in data and not ref.get('optional'):
                        err(f, d, f"{where}: Secret {ref['name']} has no key {ref['key']}")
                elif ref and secrets:
                    err(f, d, f"{where}: no Secret {ref['name']}")
            # The configuration file: mounted, loadable, and agreeing with the pod.
            cfg_text = None
            for m in c.get('volumeMounts', []):
                v = volumes.get(m['name'])
                if v is None:
                    err(f, d, f"{where}: mounts volume {m['name']}, which the pod does not have")
                    continue
                if 'configMap' in v and m['mountPath'] == '/etc/sluice':
                    cm = configmaps.get(v['configMap']['name'])
                    if cm is None:
                        err(f, d, f"{where}: no ConfigMap {v['configMap']['name']}")
                    else:
                        cfg_text = cm.get('data', {}).get('sluice.conf')
            conf_path = args[args.index('-c') + 1] if '-c' in args else None
            if conf_path != '/etc/sluice/sluice.conf' or cfg_text is None:
                err(f, d, f'{where}: runs -c {conf_path} but no ConfigMap key sluice.conf is mounted at /etc/sluice')
                continue
            cfg = dict(re.findall(r'^\s*([\w.]+)\s*=\s*(.*?)\s*$', cfg_text, re.M))
            if not standby_arg and cfg.get('standby') != 'true':
                err(f, d, f'{where}: two replicas of one slot need hot-standby mode (--standby or standby = true)')
            listen = cfg.get('metrics.listen', '')
            if not listen.endswith(':' + str(ports.get('metrics'))):
                err(f, d, f"{where}: metrics.listen {listen!r} is not the metrics port {ports.get('metrics')}")
            if ann.get('prometheus.io/scrape') != 'true' or ann.get('prometheus.io/port') != str(ports.get('metrics')):
                err(f, d, 'the pod template needs prometheus.io/scrape "true" and prometheus.io/port of the metrics port')
            shutdown_s = int(cfg.get('shutdown.timeout.ms', '30000')) / 1000
            if grace <= shutdown_s:
                err(f, d, f'terminationGracePeriodSeconds {grace} must be above shutdown.timeout.ms ({shutdown_s:.0f} s)')
            if os.access(sluice, os.X_OK):
                with tempfile.TemporaryDirectory() as tmp:
                    path = os.path.join(tmp, 'sluice.conf')
                    with open(path, 'w') as fh:
                        fh.write(cfg_text)
                    os.chmod(path, 0o644)  # as a ConfigMap mounts it
                    r = subprocess.run(
                        [sluice, 'check', '-c', path, '-o', 'postgres.conninfo=host=127.0.0.1 port=1 dbname=x user=x',
                         '-o', 'kafka.bootstrap.servers=127.0.0.1:1', '-o', 'startup.timeout.ms=1000',
                         '-o', 'metrics.listen='],
                        env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
                    # 10: the checks failed (nothing listens on port 1), the file loaded; 3: it did not.
                    if r.returncode != 10:
                        err(f, d, f'{where}: sluice.conf does not load (sluice check exited {r.returncode}): '
                                  f'{(r.stdout + r.stderr).strip()[-300:]}')
    for f, d in by_kind.get('PodDisruptionBudget', []):
        sel = d['spec']['selector'].get('matchLabels', {})
        if not any(all(dd['spec']['template']['metadata'].get('labels', {}).get(k) == v for k, v in sel.items())
                   for _, dd in deployments) or not sel:
            err(f, d, f'selector {sel} matches no Deployment\'s pods')
    if deployments and not by_kind.get('PodDisruptionBudget'):
        errors.append('no PodDisruptionBudget')
    for e in errors:
        print(e)
    print(f"policy: {len(docs)} manifests, {len(errors)} problems", file=sys.stderr)
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
