module example.com/go-modules

go 1.22.0

toolchain go1.22.5

require github.com/google/uuid v1.6.0
