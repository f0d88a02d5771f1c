import { Controller, Get, Header } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { DASHBOARD_HTML } from './dashboard.html';

/** A page for people; its data comes from the admin routes, with the token the visitor gives. */
@ApiExcludeController()
@Controller('dashboard')
export class DashboardController {
  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('cache-control', 'no-store')
  page(): string {
    return DASHBOARD_HTML;
  }
}
