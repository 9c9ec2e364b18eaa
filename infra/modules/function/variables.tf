variable "project_id" {
  description = "Project of the function."
  type        = string
}

variable "region" {
  description = "Region of the function."
  type        = string
}

variable "key" {
  description = "The function's directory under functions/, e.g. pubsub_push."
  type        = string
}

variable "name" {
  description = "The function's (and its Cloud Run service's) name, e.g. mapper-pubsub-push."
  type        = string
}

variable "entry_point" {
  description = "The Python function in main.py that functions-framework serves."
  type        = string
}

variable "signature_type" {
  description = "http or cloudevent: the functions_framework decorator of the entry point."
  type        = string

  validation {
    condition     = contains(["http", "cloudevent"], var.signature_type)
    error_message = "signature_type is http or cloudevent."
  }
}

variable "runtime" {
  description = "Cloud Functions runtime, e.g. python311."
  type        = string
}

variable "memory" {
  description = "Memory per instance, e.g. 512Mi."
  type        = string
}

variable "cpu" {
  description = "vCPUs per instance, e.g. \"1\"; at least 1 when concurrency is above 1."
  type        = string
}

variable "timeout_seconds" {
  description = "Longest a request may run."
  type        = number
}

variable "concurrency" {
  description = "Requests one instance serves at once."
  type        = number
}

variable "min_instances" {
  description = "Instances kept warm; 0 scales to zero and costs nothing while idle."
  type        = number
}

variable "max_instances" {
  description = "Most instances at once: a bound on cost and on the load put on targets."
  type        = number
}

variable "source_bucket" {
  description = "Bucket holding the source zip."
  type        = string
}

variable "source_object" {
  description = "Object name of the source zip; it carries the content hash."
  type        = string
}

variable "docker_repository" {
  description = "Artifact Registry repository for the built image (projects/P/locations/R/repositories/N)."
  type        = string
}

variable "build_service_account" {
  description = "Service account Cloud Build runs as (projects/P/serviceAccounts/EMAIL)."
  type        = string
}

variable "service_account_email" {
  description = "Service account the function runs as."
  type        = string
}

variable "environment" {
  description = "Environment variables."
  type        = map(string)
  default     = {}
}

variable "secret_environment" {
  description = "Environment variables read from Secret Manager at instance start: name => secret id (latest version)."
  type        = map(string)
  default     = {}
}

variable "public" {
  description = "Anyone may invoke it (allUsers run.invoker) and it takes traffic from the internet."
  type        = bool
}

variable "invokers" {
  description = "Principals given run.invoker on the function, by a fixed key (e.g. { invoker = \"serviceAccount:...\" })."
  type        = map(string)
  default     = {}
}

variable "labels" {
  description = "Labels of the function."
  type        = map(string)
  default     = {}
}
