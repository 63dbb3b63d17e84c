import { synopsis, type CommandSpec, type OptionSpec } from './commandSpec.js';
import type { Style } from './terminal.js';

/** How help is written: the name the user typed krew-wasm as, the text width and the style. */
export interface HelpContext {
  /** `krew-wasm`, or `kubectl krew-wasm` when run through kubectl. */
  binaryName: string;
  version: string;
  width: number;
  style: Style;
}

/** Visible commands: those with a description (internal ones, such as the completion helper, have none). */
export function visibleSpecs(specs: CommandSpec[]): CommandSpec[] {
  return specs.filter((s) => s.usage.description && s.paths.length > 0);
}

/** `krew-wasm --help`: every command with its one-line description. */
export function generalHelp(specs: CommandSpec[], h: HelpContext): string {
  const { bold } = h.style;
  const rows = visibleSpecs(specs).map((s) => {
    const [name, ...aliases] = s.paths.map((p) => p.join(' ')).filter((p) => !p.startsWith('-'));
    const alias = aliases.length ? ` (alias: ${aliases.join(', ')})` : '';
    return [name, `${s.usage.description}${alias}`] as [string, string];
  });
  const out = [
    `${h.binaryName} ${h.version}: portable, sandboxed kubectl plugins written as WebAssembly components`,
    '',
    bold('Usage:'),
    `  ${h.binaryName} <command> [options]`,
    '',
    bold('Commands:'),
    ...twoColumns(rows, h),
    '',
    bold('Options:'),
    ...twoColumns([['-h, --help', `Show help (also: ${h.binaryName} help <command>)`], ['--version', 'Print the version']], h),
    '',
    `Run "${h.binaryName} <command> --help" for the options and examples of a command.`,
  ];
  return `${out.join('\n')}\n`;
}

/** `krew-wasm <command> --help`: synopsis, aliases, options, details and examples. */
export function commandHelp(spec: CommandSpec, h: HelpContext): string {
  const { bold } = h.style;
  const out: string[] = [];
  if (spec.usage.description) out.push(capitalize(spec.usage.description), '');
  out.push(bold('Usage:'), `  ${h.binaryName} ${synopsis(spec)}`, '');
  const aliases = spec.paths.slice(1).map((p) => p.join(' ')).filter((p) => !p.startsWith('-'));
  if (aliases.length) out.push(bold('Aliases:'), `  ${aliases.join(', ')}`, '');
  const options = spec.options.filter((o) => !o.hidden);
  out.push(bold('Options:'), ...twoColumns([...options.map(optionRow), ['-h, --help', 'Show this help']], h), '');
  if (spec.usage.details) out.push(...reflow(spec.usage.details, h.width, h.style), '');
  if (spec.usage.examples?.length) {
    out.push(bold('Examples:'));
    for (const [label, line] of spec.usage.examples) out.push(`  # ${label}`, `  ${line.replace(/\$0/g, h.binaryName)}`, '');
  }
  return `${out.join('\n').trimEnd()}\n`;
}

/** `--fs <home|kubeconfig|none>` / `-o, --output <table|json|yaml|name>`. */
export function optionLabel(o: OptionSpec): string {
  return `${o.names.join(', ')}${o.placeholder ? ` ${o.placeholder}` : ''}`;
}

function optionRow(o: OptionSpec): [string, string] {
  return [optionLabel(o), o.description];
}

/** Label and text side by side when the labels are short, else the text on its own lines below. */
function twoColumns(rows: [string, string][], h: HelpContext): string[] {
  const labelWidth = Math.max(...rows.map(([label]) => label.length));
  const sideBySide = labelWidth <= Math.min(40, h.width / 2);
  const out: string[] = [];
  for (const [label, text] of rows) {
    if (sideBySide) {
      const indent = 2 + labelWidth + 3;
      const lines = wrap(text, Math.max(20, h.width - indent));
      out.push(`  ${h.style.bold(label.padEnd(labelWidth))}   ${lines[0] ?? ''}`.trimEnd(), ...lines.slice(1).map((l) => `${' '.repeat(indent)}${l}`));
    } else {
      out.push(`  ${h.style.bold(label)}`, ...wrap(text, h.width - 6).map((l) => `      ${l}`));
    }
  }
  return out;
}

/** Dedents a template-literal text and refills its paragraphs; `code` spans are styled on a terminal. */
export function reflow(text: string, width: number, style: Style): string[] {
  const lines = text.replace(/^\n+|\s+$/g, '').split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => /^ */.exec(l)![0].length));
  const paragraphs = lines.map((l) => l.slice(indent)).join('\n').split(/\n\s*\n/);
  const out: string[] = [];
  for (const paragraph of paragraphs) {
    if (out.length) out.push('');
    for (const line of wrap(paragraph.replace(/\s*\n\s*/g, ' '), width)) out.push(styleCode(line, style));
  }
  return out;
}

function styleCode(line: string, style: Style): string {
  const styled = style.code('x');
  if (styled === 'x') return line; // plain: keep the backticks, they mark what to type
  return line.replace(/`([^`]+)`/g, (_, code: string) => style.code(code));
}

/** Greedy word wrap; a word longer than the width gets a line of its own. */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

