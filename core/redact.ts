/**
 * Secret hygiene. SAS tokens travel as URL query strings and subscription keys as headers; neither may
 * appear in a log line, an error message or a manifest. Everything that prints a URL goes through
 * `redactUrl`, and the logger runs `redactText` over every line as a second fence.
 */

/** Query parameters that make up an Azure SAS token (service and user-delegation forms). */
const SAS_PARAMS = new Set([
  'st', 'se', 'sp', 'sv', 'sr', 'sig', 'spr', 'sip', 'si', 'ss', 'srt', 'skoid', 'sktid', 'skt', 'ske', 'sks', 'skv',
  'saoid', 'suoid', 'scid', 'sdd', 'rscc', 'rscd', 'rsce', 'rscl', 'rsct', 'token', 'subscription-key', 'code',
]);

/** The URL with every SAS/token query parameter removed (other parameters kept), as a string. */
export function redactUrl(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch {
    return redactText(String(url));
  }
  let removed = false;
  for (const key of [...parsed.searchParams.keys()]) {
    if (SAS_PARAMS.has(key.toLowerCase())) {
      parsed.searchParams.delete(key);
      removed = true;
    }
  }
  const out = parsed.toString();
  return removed ? `${out}${parsed.search ? '&' : '?'}<sas-redacted>` : out;
}

/** Secrets registered at run time (subscription keys, token strings) that must never be printed. */
const knownSecrets = new Set<string>();

/** Registers a secret value (a token or key) so `redactText` removes it wherever it appears. */
export function registerSecret(secret: string | undefined): void {
  if (secret && secret.length >= 8) knownSecrets.add(secret);
}

const SIG_PATTERN = /([?&])(sig|se|st|sp|sv|sr|skoid|sktid|token)=[^&\s"'<>]*/gi;

/** Removes SAS query parameters and registered secrets from free text. */
export function redactText(text: string): string {
  let out = text.replace(SIG_PATTERN, '$1$2=<redacted>');
  for (const secret of knownSecrets) {
    if (out.includes(secret)) out = out.split(secret).join('<redacted>');
  }
  return out;
}
