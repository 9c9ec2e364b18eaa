#!/usr/bin/env bash
# Deploys the platform to Google Cloud: ./deploy.sh PROJECT_ID REGION [--plan]
# Not built yet: the Terraform in infra/ and this script come with the deploy issue.
set -euo pipefail
echo "deploy.sh: deployment is not implemented yet (see the 'Deploy to Google Cloud' issue)." >&2
exit 1
