/**
 * A password or token read from a file or the environment. It prints as "[redacted]" everywhere
 * (String(), JSON, util.inspect, pino), so that a config can be logged or returned by the API whole;
 * only reveal() gives the value, at the one place that sends it to etcd or compares a bearer token.
 */
import { inspect } from 'node:util';
import { DrError } from '../core/errors.js';

const REDACTED = '[redacted]';

export class Secret {
  readonly #value: string | null;
  /** where it came from, e.g. "file /etc/etcd-dr/password" or "env ETCD_PASSWORD"; never the value */
  readonly source: string;

  private constructor(value: string | null, source: string) {
    this.#value = value;
    this.source = source;
  }

  static of(value: string, source: string): Secret {
    return new Secret(value, source);
  }

  /** A placeholder for a config loaded with `offline: true`: reveal() throws. */
  static unresolved(source: string): Secret {
    return new Secret(null, source);
  }

  get resolved(): boolean {
    return this.#value !== null;
  }

  reveal(): string {
    if (this.#value === null) {
      throw new DrError(
        'CONFIG_INVALID',
        `config: secret from ${this.source} was not read (config loaded offline)`,
      );
    }
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return `Secret(${REDACTED}, ${this.source})`;
  }
}
