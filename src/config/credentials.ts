import { checkPrivateFile, type PrivateFileCheck, readConfigFile } from './files.ts';
import { CENSOR } from './redact.ts';
import {
  ConfigError,
  type ConfigIssue,
  type CredentialsConfig,
  configError,
  parseSecretsFile,
  SECRET_NAMES,
  type SecretName,
  type SecretsFile,
  type ServiceConfig,
} from './schema.ts';

/**
 * Resolving the credentials a config names into memory. The secrets live in a `Credentials`
 * object only, in a private field, and its every printable form (JSON, `util.inspect`, string,
 * spread) shows none of them, so a resolved secret cannot reach a log line or `config print` by
 * being passed along whole.
 */

const INSPECT = Symbol.for('nodejs.util.inspect.custom');

type SecretValues = Partial<Record<SecretName, string>>;

export class Credentials {
  readonly #values: SecretValues;

  constructor(values: SecretValues) {
    this.#values = { ...values };
  }

  /**
   * One secret. A method, not a property: a property named `apiKey` would be found, read and
   * rewritten by the logger's redaction, which works on copies that hold no secrets.
   */
  get(name: SecretName): string | undefined {
    return this.#values[name];
  }

  /** The names of the secrets present, for logs. */
  names(): SecretName[] {
    return SECRET_NAMES.filter((name) => this.#values[name] !== undefined);
  }

  toJSON(): string {
    return CENSOR;
  }

  toString(): string {
    return CENSOR;
  }

  [INSPECT](): string {
    return `Credentials ${CENSOR}`;
  }
}

/** Anything that may name credentials: a collector config or the service config. */
export interface CredentialsSource {
  readonly credentials?: CredentialsConfig | undefined;
}

export interface ResolveOptions {
  /** How issues name the credentials, e.g. `collectors.0.credentials`. */
  readonly field?: string;
  /** Tests pass a platform to exercise the permission check anywhere. */
  readonly platform?: NodeJS.Platform;
}

/**
 * Reads the secrets a config names: per secret, the environment variable named by `<name>Env`,
 * else the secrets file's value, else a literal (which only a private config file may hold).
 * Undefined when the config names no credentials. Throws `ConfigError` for a variable that is
 * not set, and for a secrets file that is missing, malformed or readable by group or others;
 * issues name fields and variables, never a secret.
 */
export async function resolveCredentials(
  config: CredentialsSource,
  env: Readonly<Record<string, string | undefined>>,
  options: ResolveOptions = {},
): Promise<Credentials | undefined> {
  const spec = config.credentials;
  if (spec === undefined) return undefined;
  const field = options.field ?? 'credentials';
  const fromFile =
    spec.file === undefined ? {} : await readSecretsFile(spec.file, `${field}.file`, options);
  const values: SecretValues = {};
  const issues: ConfigIssue[] = [];
  for (const name of SECRET_NAMES) {
    const variable = spec[`${name}Env`];
    if (variable === undefined) {
      const value = fromFile[name] ?? spec[name];
      if (value !== undefined) values[name] = value;
      continue;
    }
    const value = env[variable];
    if (value === undefined || value === '') {
      const expected = `an environment variable that is set (to the ${name})`;
      issues.push({ field: `${field}.${name}Env`, received: variable, expected });
      continue;
    }
    values[name] = value;
  }
  if (issues.length > 0) throw configError(issues);
  return new Credentials(values);
}

async function readSecretsFile(
  file: string,
  field: string,
  options: ResolveOptions,
): Promise<SecretsFile> {
  // The mode first: a file others can read is refused before its content is even looked at.
  const { platform } = options;
  const because = `named by ${field}`;
  const check: PrivateFileCheck =
    platform === undefined
      ? { kind: 'secrets file', because }
      : { kind: 'secrets file', because, platform };
  await checkPrivateFile(file, check);
  return parseSecretsFile(await readConfigFile(file, 'secrets file'), field);
}

/**
 * The credentials of every collector of a service config, in its order: its own, else the
 * service's, else none. Every problem of every collector is reported at once.
 */
export async function resolveServiceCredentials(
  config: ServiceConfig,
  env: Readonly<Record<string, string | undefined>>,
  options: Pick<ResolveOptions, 'platform'> = {},
): Promise<(Credentials | undefined)[]> {
  const errors: ConfigError[] = [];
  const attempt = async (source: CredentialsSource, field: string) => {
    try {
      return await resolveCredentials(source, env, { ...options, field });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      errors.push(error);
      return undefined;
    }
  };
  // The service's once, not once per collector that inherits it: its file is read one time.
  const shared = await attempt(config, 'credentials');
  const resolved: (Credentials | undefined)[] = [];
  for (const [index, collector] of config.collectors.entries()) {
    resolved.push(
      collector.credentials === undefined
        ? shared
        : await attempt(collector, `collectors.${index}.credentials`),
    );
  }
  const [first, ...more] = errors;
  if (first === undefined) return resolved;
  if (more.length === 0) throw first;
  // An exposed file is the one to fix first: its code leads.
  const exposed = errors.find((e) => e.code === 'config-file-exposed');
  throw new ConfigError(
    errors.map((e) => e.message).join('\n'),
    errors.flatMap((e) => e.issues),
    (exposed ?? first).code,
  );
}
