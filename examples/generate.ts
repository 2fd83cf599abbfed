// Sample digits, edit one, and read the tokens behind them — with the shipped MNIST MaskGIT prior.
import { Generator, tidy, zeros, priors, data } from 'tessera';

export async function generate(modelFile: string, outDir: string) {
  const model = priors.PriorModel.load(modelFile); // the prior and its tokenizer, one file

  // Two of each digit 0–9 with the sampling settings stored in the model file
  // (model.samplingDefaults: 12 parallel decoding steps, classifier-free guidance 3).
  const classes = Array.from({ length: 20 }, (_, i) => Math.floor(i / 2));
  const images = model.sample({ classes, generator: new Generator(0) });
  await data.writePng(`${outDir}/digits.png`, data.imagesToGrid(images, { nrow: 10 }));

  // Inpainting: regenerate the bottom half of the first "3" as an "8".
  const three = images.index('6:7'); // [1, 3, 28, 28]: the digits are RGB images
  const mask = zeros([28, 28]);
  mask.index('14:28', ':').fill_(1);
  const { image: edited } = model.inpaint(three, mask, { class: '8', generator: new Generator(1) });
  await data.writePng(`${outDir}/three-to-eight.png`, edited.index(0));

  // The tokens: 7×7 codebook indices per digit, and back.
  const tokens = tidy(() => model.tokenizer.encode(three)); // int64 [1, 7, 7]
  const decoded = model.tokenizer.decode(tokens);
  return { images, edited, tokens, decoded, three };
}
