import { Option } from 'clipanion';
import { CliUsageError } from '../errors.js';
import type { KrewContext } from './context.js';

/**
 * Option helpers on top of clipanion's: each value option carries a named placeholder for help
 * (`--fs <home|kubeconfig|none>`, never clipanion's `#0`) and the values completion may offer, and
 * its value is checked while the command line is parsed, so a bad value is a usage error (exit 2)
 * before anything runs.
 */

/** What help and completion know about an option beyond clipanion's own definition. */
export interface OptionExtras {
  /** Shown after the option name in help, e.g. `<seconds|none>`. */
  placeholder: string;
  /** The accepted values, when there is a fixed set (offered by shell completion). */
  values?: readonly string[];
}

/** Where the extras sit on clipanion's option marker object. */
export const OPTION_EXTRAS = Symbol('krew-wasm/option-extras');

type Marker = { transformer: (...args: unknown[]) => unknown; [OPTION_EXTRAS]?: OptionExtras };

/** Checks (and converts) one value while the command line is parsed; `context` is the command's. */
export type ValueCheck<T> = (value: string, context: KrewContext) => T;

function decorate<T>(option: unknown, extras: OptionExtras, check?: ValueCheck<unknown>): T {
  const marker = option as Marker;
  marker[OPTION_EXTRAS] = extras;
  if (check) {
    const transform = marker.transformer;
    // clipanion calls transformer(builder, key, state, context).
    marker.transformer = (...args: unknown[]) => {
      const value = transform(...args);
      const context = args[3] as KrewContext;
      if (value === undefined) return undefined;
      return Array.isArray(value) ? value.map((v) => check(v as string, context)) : check(value as string, context);
    };
  }
  return option as T;
}

function longName(names: string): string {
  const all = names.split(',');
  return all.find((n) => n.startsWith('--')) ?? all[0];
}

/** `--name <placeholder>`: a string value, checked only for presence. */
export function stringOption(names: string, placeholder: string, description: string): string | undefined {
  return decorate(Option.String(names, { description }), { placeholder });
}

/** A repeatable `--name <placeholder>`. */
export function arrayOption(names: string, placeholder: string, description: string): string[] | undefined {
  return decorate(Option.Array(names, { description }), { placeholder });
}

/** `--name <placeholder>` whose value `check` validates and converts (throwing a CliUsageError). */
export function checkedOption<T>(names: string, placeholder: string, description: string, check: ValueCheck<T>): T | undefined {
  return decorate(Option.String(names, { description }), { placeholder }, check);
}

/** A repeatable checkedOption. */
export function checkedArrayOption<T>(names: string, placeholder: string, description: string, check: ValueCheck<T>): T[] | undefined {
  return decorate(Option.Array(names, { description }), { placeholder }, check);
}

/** `--name <a|b|c>`: one of a fixed set of values. */
export function enumOption<const V extends string>(names: string, values: readonly V[], description: string): V | undefined {
  const flag = longName(names);
  return decorate(Option.String(names, { description }), { placeholder: `<${values.join('|')}>`, values }, (value) => {
    if ((values as readonly string[]).includes(value)) return value;
    throw new CliUsageError(`invalid ${flag} "${value}": expected one of ${values.join(', ')}`, { hint: `e.g. ${flag} ${values[0]}` });
  });
}

export interface IntegerSpec {
  /** What the number counts, in words: `seconds`, `MiB`. */
  unit: string;
  min: number;
  max: number;
  /** Also accept `none` (returned as null): lift a limit. */
  none?: boolean;
  /** A sensible value for the hint. */
  example: number;
}

/** `--name <unit>`: a whole number in [min, max] (or `none`); anything else is a usage error naming the range. */
export function integerOption(names: string, spec: IntegerSpec, description: string): number | null | undefined {
  const flag = longName(names);
  const placeholder = `<${spec.unit}${spec.none ? '|none' : ''}>`;
  return decorate(Option.String(names, { description }), { placeholder, values: spec.none ? ['none'] : undefined }, (value) => {
    if (spec.none && value === 'none') return null;
    const n = /^\d+$/.test(value) ? Number(value) : NaN;
    if (Number.isSafeInteger(n) && n >= spec.min && n <= spec.max) return n;
    const range = `a whole number of ${spec.unit} from ${spec.min} to ${spec.max}${spec.none ? ', or none' : ''}`;
    throw new CliUsageError(`invalid ${flag} "${value}": expected ${range}`, { hint: `e.g. ${flag} ${spec.example}` });
  });
}
