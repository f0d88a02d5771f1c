import { applyDecorators } from '@nestjs/common';
import type { INestApplication } from '@nestjs/common';
import { ApiSecurity, DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';

/** Security scheme names: two tokens with different powers, so two schemes. */
export const API_TOKEN_SCHEME = 'apiToken';
export const ADMIN_TOKEN_SCHEME = 'adminToken';

/** Admin routes: `Authorization: Bearer $ADMIN_TOKEN`. */
export const ApiAdminAuth = () => ApiSecurity(ADMIN_TOKEN_SCHEME);

/** Id routes: a token of API_TOKENS when that is set, none otherwise (the `{}` alternative). */
export const ApiTokenAuth = () => applyDecorators(ApiSecurity(API_TOKEN_SCHEME), ApiSecurity({}));

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/**
 * The OpenAPI document clients are generated from. The Authorization header is documented by the
 * security schemes; a header parameter for it (Nest derives one from `@Headers('authorization')`)
 * would be a second, required declaration that Swagger UI's "Try it out" refuses to run without.
 */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('id-allocator')
    .setDescription(
      'Globally unique 64-bit ids: segment, partition, ticket, snowflake, uuid, uuidv7. Ids travel as decimal strings; ' +
        'errors are `{"statusCode","error","code","message"}`: match on `code`.',
    )
    .setVersion('0.1.0')
    .addServer('/', 'this instance')
    .addSecurity(API_TOKEN_SCHEME, {
      type: 'http',
      scheme: 'bearer',
      description: 'a token of API_TOKENS; the id routes need one only when API_TOKENS is set',
    })
    .addSecurity(ADMIN_TOKEN_SCHEME, { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN: the admin routes' })
    .build();
  const document = SwaggerModule.createDocument(app, config);
  for (const item of Object.values(document.paths)) {
    for (const method of METHODS) {
      const operation = item[method];
      if (operation?.parameters) {
        operation.parameters = operation.parameters.filter(
          (p) => !('in' in p && p.in === 'header' && p.name.toLowerCase() === 'authorization'),
        );
      }
    }
  }
  return document;
}
