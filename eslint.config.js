import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['eslint.config.js'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-confusing-void-expression': 'off',
      // Our strings of characters are ASCII alphabets; spreading them by code point is what we want.
      '@typescript-eslint/no-misused-spread': 'off',
    },
  },
  {
    // The core (shared/, see docs/architecture.md) knows the SecretStore and Rotator ports only: no cloud SDK, no database driver, no
    // adapter or rotator. Those live in stores/, rotators/ and functions/, and are passed in.
    files: ['shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@aws-sdk/*', '@smithy/*', '@azure/*', '@google-cloud/*', 'google-gax', '@grpc/*', 'googleapis'], message: 'cloud SDKs belong in stores/<cloud>/ or functions/<cloud>/, not in the core' },
            { group: ['pg', 'pg/*', 'mysql2', 'mysql2/*'], message: 'database drivers belong in rotators/<engine>/, not in the core' },
            { group: ['@middy/*', '@aws-lambda-powertools/*', 'aws-lambda'], message: 'runtime frameworks belong in functions/<cloud>/, not in the core' },
            { group: ['../stores/*', '../rotators/*', '../functions/*', '../cli/*', '../../*'], message: 'the core depends on nothing outside shared/; pass adapters in' },
          ],
        },
      ],
    },
  },
  { files: ['eslint.config.js'], ...tseslint.configs.disableTypeChecked },
);
