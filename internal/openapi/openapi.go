// Package openapi holds the OpenAPI (Swagger 2.0) description of the REST
// gateway, generated from the protos and their HTTP rules by
// protoc-gen-openapiv2 (see buf.gen.yaml).
package openapi

import _ "embed"

// JSON is the generated OpenAPI document, provenance.swagger.json.
//
//go:embed provenance.swagger.json
var JSON []byte
