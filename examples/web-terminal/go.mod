module github.com/escher-dbai/execengine/examples/web-terminal

go 1.25.14

require (
	github.com/escher-dbai/execengine v0.0.0
	github.com/google/uuid v1.6.0
)

require golang.org/x/sys v0.40.0 // indirect

replace github.com/escher-dbai/execengine => ../../
