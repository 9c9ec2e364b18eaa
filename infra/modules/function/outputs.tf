output "name" {
  description = "The function's name."
  value       = google_cloudfunctions2_function.this.name
}

output "uri" {
  description = "The function's URL (its Cloud Run service's)."
  value       = google_cloudfunctions2_function.this.service_config[0].uri
}

output "service" {
  description = "The Cloud Run service behind the function."
  value       = google_cloudfunctions2_function.this.service_config[0].service
}
