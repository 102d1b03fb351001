module kdap.dev/go-hello

go 1.19
