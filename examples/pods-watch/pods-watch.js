// kubectl pods-watch [-n NAMESPACE | -A] [-l SELECTOR]: a krew-wasm plugin in JavaScript that lists
// pods, then watches them and prints one line per change as it happens, like `kubectl get pods -w`,
// until Ctrl-C (or its --timeout grant). It uses the standard fetch() (wasi:http) and streams the
// watch response: each event is printed when the API server sends it.
//
// The host sends every request to the API server of your kubeconfig (and nowhere else), with your
// credentials; KREW_WASM_API_SERVER is that server's URL.
import { getArguments, getEnvironment } from 'wasi:cli/environment@0.2.12';
import { exitWithCode } from 'wasi:cli/exit@0.2.12';

function parseArgs(args) {
  const opts = { namespace: 'default', all: false, selector: undefined };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '-A' || a === '--all-namespaces') opts.all = true;
    else if (a === '-n' || a === '--namespace') opts.namespace = args[++i];
    else if (a.startsWith('--namespace=')) opts.namespace = a.slice('--namespace='.length);
    else if (a === '-l' || a === '--selector') opts.selector = args[++i];
    else if (a.startsWith('--selector=')) opts.selector = a.slice('--selector='.length);
  }
  return opts;
}

function podsUrl(server, opts, extra) {
  const base = opts.all ? '/api/v1/pods' : `/api/v1/namespaces/${encodeURIComponent(opts.namespace)}/pods`;
  const query = new URLSearchParams(extra);
  if (opts.selector) query.set('labelSelector', opts.selector);
  const q = query.toString();
  return `${server}${base}${q ? `?${q}` : ''}`;
}

const line = (type, pod, all) => {
  const name = all ? `${pod.metadata.namespace}/${pod.metadata.name}` : pod.metadata.name;
  return `${type.padEnd(9)} ${name.padEnd(40)} ${pod.status?.phase ?? ''}`;
};

async function failure(res) {
  const body = await res.text();
  try {
    const status = JSON.parse(body);
    return `Error from server (${status.reason ?? res.status}): ${status.message ?? body}`;
  } catch {
    return `Error from server (${res.status}): ${body}`;
  }
}

/** Follows one watch response, printing each event as it arrives; resolves with the last resourceVersion. */
async function follow(res, opts, resourceVersion) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let pending = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return resourceVersion;
    pending += decoder.decode(value, { stream: true });
    let newline;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const text = pending.slice(0, newline).trim();
      pending = pending.slice(newline + 1);
      if (!text) continue;
      const event = JSON.parse(text);
      if (event.type === 'ERROR') throw new Error(event.object?.message ?? 'watch error');
      console.log(line(event.type, event.object, opts.all));
      resourceVersion = event.object?.metadata?.resourceVersion ?? resourceVersion;
    }
  }
}

export const run = {
  async run() {
    const server = Object.fromEntries(getEnvironment()).KREW_WASM_API_SERVER;
    if (!server) {
      console.error('error: no API server (is there a kubeconfig, and is the network granted to this plugin?)');
      exitWithCode(1);
    }
    const opts = parseArgs(getArguments().slice(1));
    try {
      const list = await fetch(podsUrl(server, opts));
      if (!list.ok) {
        console.error(await failure(list));
        exitWithCode(1);
      }
      const pods = await list.json();
      for (const pod of pods.items) console.log(line('EXISTING', pod, opts.all));
      let resourceVersion = pods.metadata?.resourceVersion;
      // As kubectl get -w: watch from the list's version, and watch again when the server ends a watch.
      for (;;) {
        const watch = await fetch(podsUrl(server, opts, { watch: '1', resourceVersion, timeoutSeconds: '300' }));
        if (!watch.ok) {
          console.error(await failure(watch));
          exitWithCode(1);
        }
        resourceVersion = await follow(watch, opts, resourceVersion);
      }
    } catch (error) {
      console.error(`error: ${error?.message ?? error}`);
      exitWithCode(1);
    }
  },
};
