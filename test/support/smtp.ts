/**
 * A real SMTP server on loopback (smtp-server) that parses what arrives (mailparser): the
 * notification specs read the mail a person would. `refuse(n)` makes the next n messages fail
 * with a 451 (a temporary failure, which the dispatcher retries); `hold()` keeps the next
 * message's SMTP exchange open until `release()` (a process can be killed mid-send).
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface Mailbox {
  url: string;
  port: number;
  messages: ParsedMail[];
  /** Resolves with the first message matching, waiting up to `ms`. */
  next(match?: (m: ParsedMail) => boolean, ms?: number): Promise<ParsedMail>;
  refuse(count: number): void;
  /** The next MAIL FROM waits; resolves when it arrives. */
  hold(): Promise<void>;
  close(): Promise<void>;
}

export async function startMailbox(port = 0): Promise<Mailbox> {
  const messages: ParsedMail[] = [];
  const waiters = new Set<() => void>();
  let refusals = 0;
  let holding: (() => void) | undefined;
  const server = new SMTPServer({
    authOptional: true,
    disableReverseLookup: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onMailFrom(_address, _session, callback) {
      if (holding) {
        const arrived = holding;
        holding = undefined;
        arrived();
        return; // never answered: the client waits until it is killed or times out
      }
      callback();
    },
    onData(stream, _session, callback) {
      if (refusals > 0) {
        refusals--;
        stream.resume();
        stream.on('end', () => callback(Object.assign(new Error('mailbox busy, try again later'), { responseCode: 451 })));
        return;
      }
      // skipImageLinks: the HTML as sent (mailparser would otherwise inline cid: images as data: URIs).
      simpleParser(stream, { skipImageLinks: true })
        .then((mail) => {
          messages.push(mail);
          for (const w of waiters) w();
          callback();
        })
        .catch(callback);
    },
  });
  server.listen(port, '127.0.0.1');
  await once(server.server, 'listening');
  const actual = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${actual}?tls=off`,
    port: actual,
    messages,
    next(match = () => true, ms = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = messages.find(match);
          if (found) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(found);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no such mail within ${ms} ms; got: ${messages.map((m) => m.subject).join(' | ')}`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
    refuse(count) {
      refusals = count;
    },
    hold() {
      return new Promise((resolve) => {
        holding = resolve;
      });
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** The first link in a mail's text part. */
export function linkIn(mail: ParsedMail): string {
  const m = /(https?:\/\/\S+)/.exec(mail.text ?? '');
  if (!m) throw new Error(`no link in: ${mail.text}`);
  return m[1]!;
}
