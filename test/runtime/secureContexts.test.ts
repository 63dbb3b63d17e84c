import test from 'ava';
import { SecureContexts } from '../../src/runtime/hosts/secureContexts.js';

/**
 * The HTTP worker's TLS contexts: one made for each set of CAs and credentials, and what is kept
 * bounded, whatever a plugin registers (node:tls takes text with no certificate in it as a CA list
 * that adds none, so each of these settings is a context of its own).
 */

const settings = (tag: string, padding = 0) => ({ ca: [`not a certificate ${tag} ${'.'.repeat(padding)}`] });

test('the same settings get the same context; other settings another', (t) => {
  const contexts = new SecureContexts();
  const kubeconfig = contexts.for(settings('kubeconfig'));
  t.is(contexts.for(settings('kubeconfig')), kubeconfig);
  t.not(contexts.for(settings('plugin')), kubeconfig);
  t.is(contexts.held.contexts, 2);
});

test('settings replaced again and again: at most 66 contexts are kept, and the one in use all along stays', (t) => {
  const contexts = new SecureContexts();
  const kubeconfig = contexts.for(settings('kubeconfig'));
  for (let i = 0; i < 1000; i++) {
    contexts.for(settings(`replaced ${i}`));
    t.is(contexts.for(settings('kubeconfig')), kubeconfig);
  }
  t.is(contexts.held.contexts, 66);
});

test('large settings: what the kept contexts were made from stays within 8 MiB', (t) => {
  const contexts = new SecureContexts();
  for (let i = 0; i < 40; i++) contexts.for(settings(`large ${i}`, 1024 * 1024));
  t.true(contexts.held.keyBytes <= 8 * 1024 * 1024, `${contexts.held.keyBytes} bytes`);
  t.is(contexts.held.contexts, 7);
  // One larger than the bound is made and handed out, and not kept.
  contexts.for(settings('huge', 9 * 1024 * 1024));
  t.true(contexts.held.keyBytes <= 8 * 1024 * 1024);
});
