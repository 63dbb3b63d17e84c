// kubectl pods: list the pods of a namespace as a table, through krew-wasm's outbound-http.
// A template for plugin authors: build it with `make example` (jco componentize against the
// `plugin` world in ../../wit), push it to a registry, and `krew-wasm pull` it.
//
//   kubectl pods [-n NAMESPACE | --namespace=NAMESPACE] [-A | --all-namespaces] [-l SELECTOR]
//
// The host applies the kubeconfig's credentials (and honours --context/--kubeconfig/--user/
// --cluster among the plugin's arguments), so the plugin only names API paths.
import { request } from 'krew-wasm:outbound-http/outbound-http@0.1.0';
import { getArguments } from 'wasi:cli/environment@0.2.12';
import { exit } from 'wasi:cli/exit@0.2.12';

const USAGE = `List pods.

Usage:
  kubectl pods [-n NAMESPACE] [-A] [-l SELECTOR]

Options:
  -n, --namespace=NAMESPACE   namespace to list (default: default)
  -A, --all-namespaces        list pods in every namespace
  -l, --selector=SELECTOR     label selector, e.g. app=web
`;

function parseArgs(argv) {
  const opts = { namespace: 'default', all: false, selector: undefined };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].includes('=') ? [argv[i].slice(0, argv[i].indexOf('=')), argv[i].slice(argv[i].indexOf('=') + 1)] : [argv[i], undefined];
    const value = () => inline ?? argv[++i];
    if (flag === '-n' || flag === '--namespace') opts.namespace = value();
    else if (flag === '-A' || flag === '--all-namespaces') opts.all = true;
    else if (flag === '-l' || flag === '--selector') opts.selector = value();
    else if (flag === '-h' || flag === '--help') opts.help = true;
    else if (['--context', '--kubeconfig', '--cluster', '--user'].includes(flag)) { if (inline === undefined) i++; }
    else { opts.error = `unknown argument "${argv[i]}"`; }
  }
  return opts;
}

function fail(message) {
  console.error(message);
  exit({ tag: 'err' });
}

function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c] + 3))).join('')).join('\n');
}

export const run = {
  run() {
    const opts = parseArgs(getArguments().slice(1));
    if (opts.help) { console.log(USAGE); return; }
    if (opts.error) fail(`error: ${opts.error}\n\n${USAGE}`);
    const path = opts.all ? '/api/v1/pods' : `/api/v1/namespaces/${encodeURIComponent(opts.namespace)}/pods`;
    const params = opts.selector ? [['labelSelector', opts.selector]] : [];
    let res;
    try {
      res = request({ method: 'get', uri: path, headers: [['Accept', 'application/json']], params, body: undefined }, undefined);
    } catch (e) {
      fail(`error: cannot reach the Kubernetes API server (${e && e.payload !== undefined ? e.payload : e})`);
    }
    const body = JSON.parse(new TextDecoder().decode(res.body ?? new Uint8Array()) || '{}');
    if (res.status !== 200) fail(`Error from server (${body.reason ?? res.status}): ${body.message ?? 'request failed'}`);
    if (body.items.length === 0) {
      console.error(opts.all ? 'No resources found' : `No resources found in ${opts.namespace} namespace.`);
      return;
    }
    const header = opts.all ? ['NAMESPACE', 'NAME', 'STATUS', 'NODE'] : ['NAME', 'STATUS', 'NODE'];
    const rows = body.items.map((p) => {
      const row = [p.metadata.name, p.status?.phase ?? 'Unknown', p.spec?.nodeName ?? '<none>'];
      return opts.all ? [p.metadata.namespace, ...row] : row;
    });
    console.log(table([header, ...rows]));
  },
};
