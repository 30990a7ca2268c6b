# A file with nothing but comments holds no job.
#
# expect: 1:1 error: no job in this file — write `job "NAME" { group "NAME" { task "NAME" { … } } }`

# job "web" {
# }
