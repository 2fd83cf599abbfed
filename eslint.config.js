// ESLint flat config: ESLint's and typescript-eslint's recommended rules, syntax only (no type
// information, so a full run takes seconds). `npm run lint` runs it, then `prettier --check`.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig([
  // Built, generated or run output (the rest of .gitignore has no JavaScript).
  globalIgnores(['dist/', 'native/build/', 'native/generated/', 'src/torch/ops.generated.ts', 'test/fixtures/', 'models/', 'runs/', 'tessera-demo/']),
  {
    files: ['**/*.{ts,js,mjs,cjs}'],
    extends: [js.configs.recommended, tseslint.configs.recommended],
    languageOptions: { globals: globals.node },
    rules: {
      // A leading underscore marks a binding that is unused on purpose: the rest-destructuring idiom
      // that drops keys (`const { params: _p, ...saved } = group`) and interface-shaped parameters.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // Terminal-output sanitizing and name validation match control characters (\x00-\x1f) on purpose.
      'no-control-regex': 'off',
      // Module.getSubmodule walks the tree from `this` (let m: Module = this; m = child…); arrow
      // functions already make the `const self = this` pattern this rule targets unnecessary.
      '@typescript-eslint/no-this-alias': 'off',
    },
  },
  {
    // Tests and the results/benchmark scripts read untyped JSON and YAML (fixtures, CLI output, run
    // files) and pass deliberately ill-typed input to check the errors; `any` is the honest type there.
    files: ['test/**', 'bench/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // CommonJS by extension: native/find-libtorch.cjs is loaded by binding.gyp through `node -p require(…)`.
    files: ['**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
]);
