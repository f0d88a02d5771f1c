/** A bad setting: the message is one line naming the variable, printed before the process stops. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
