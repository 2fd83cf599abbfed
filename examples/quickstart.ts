// Train a small conv net, save it, load it back, and load a PyTorch-saved state dict.
import { Tensor, manualSeed, randn, tensor, tidy, noGrad, crossEntropy, nn, optim, io } from 'tessera';

class Net extends nn.Module {
  readonly conv1 = this.add('conv1', new nn.Conv2d(1, 8, 3, { padding: 1 }));
  readonly conv2 = this.add('conv2', new nn.Conv2d(8, 16, 3, { stride: 2, padding: 1 }));
  readonly head = this.add('head', new nn.Linear(16, 2));

  forward(x: Tensor): Tensor {
    const h = this.conv2.forward(this.conv1.forward(x).relu()).relu();
    return this.head.forward(h.mean([2, 3]));
  }
}

// Toy task: is the bright half of an 8×8 image the top (class 0) or the bottom (class 1)?
function batch(n: number): { x: Tensor; y: Tensor } {
  const labels = Array.from({ length: n }, (_, i) => i % 2);
  const rows = labels.map((c) => Array.from({ length: 8 }, (_, r) => Array(8).fill(r < 4 === (c === 0) ? 1 : 0)));
  const x = tensor(rows, { shape: [n, 1, 8, 8] }).add(randn([n, 1, 8, 8]).mul(0.3));
  return { x, y: tensor(labels, { dtype: 'int64' }) };
}

export function quickstart(outDir: string, pytorchCheckpoint: string) {
  manualSeed(0);
  const net = new Net();
  const opt = new optim.Adam(net.parameters(), { lr: 1e-2 });
  for (let step = 0; step < 100; step++) {
    tidy(() => {
      const { x, y } = batch(32);
      opt.zeroGrad();
      crossEntropy(net.forward(x), y).backward();
      opt.step();
    });
  }
  const test = batch(200);
  const accuracy = noGrad(() => net.forward(test.x).argmax(1).eq(test.y).float().mean().item());

  // Save: one .safetensors file with the config in its metadata; load it into a fresh model.
  const file = `${outDir}/net.safetensors`;
  io.saveModelFile(file, { kind: 'quickstart-net', config: {}, stateDict: net.stateDict() });
  const restored = new Net();
  restored.loadStateDict(io.loadModelFile(file, { kind: 'quickstart-net' }).stateDict);
  const same = noGrad(() => restored.forward(test.x).equal(net.forward(test.x)));

  // A PyTorch state dict (torch.save of model.state_dict()) loads with the same keys.
  const fromTorch = new Net();
  fromTorch.loadStateDict(io.stateDictFrom(io.loadTorchCheckpoint(pytorchCheckpoint)));
  return { accuracy, same, fromTorch };
}
