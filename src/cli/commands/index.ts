// The subcommand registry: one import per command module, listed in `tessera --help` order.
import type { Command } from '../command.js';
import { command as doctor } from './doctor.js';
import { command as demo } from './demo.js';
import { command as trainTokenizer } from './train-tokenizer.js';
import { command as evalTokenizer } from './eval-tokenizer.js';
import { command as evalFid } from './eval-fid.js';
import { command as evalPrior } from './eval-prior.js';
import { command as evalProbe } from './eval-probe.js';
import { command as trainClassifier } from './train-classifier.js';
import { command as trainPrior } from './train-prior.js';
import { command as sample } from './sample.js';
import { command as inpaint } from './inpaint.js';
import { command as outpaint } from './outpaint.js';
import { command as encode } from './encode.js';
import { command as decode } from './decode.js';
import { command as reconstruct } from './reconstruct.js';
import { command as info } from './info.js';
import { command as convert } from './convert.js';
import { command as importTaming } from './import-taming.js';
import { command as importMovq } from './import-movq.js';
import { command as importVqvae2 } from './import-vqvae2.js';
import { command as importVitvqgan } from './import-vitvqgan.js';
import { command as compress } from './compress.js';
import { command as decompress } from './decompress.js';
import { command as trainCodec } from './train-codec.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: readonly Command<any>[] = [
  demo,
  doctor,
  trainTokenizer,
  trainPrior,
  sample,
  inpaint,
  outpaint,
  evalTokenizer,
  evalPrior,
  evalProbe,
  evalFid,
  trainClassifier,
  encode,
  decode,
  reconstruct,
  compress,
  decompress,
  trainCodec,
  info,
  convert,
  importTaming,
  importMovq,
  importVqvae2,
  importVitvqgan,
];
